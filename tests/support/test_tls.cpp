#include "support/test_tls.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>

namespace dsvm::test {

namespace {

template <auto Free>
struct OpenSslDeleter {
    template <class T>
    void operator()(T* object) const {
        Free(object);
    }
};
using Key = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using Certificate = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using Extension = std::unique_ptr<X509_EXTENSION, OpenSslDeleter<X509_EXTENSION_free>>;
using Bio = std::unique_ptr<BIO, OpenSslDeleter<BIO_free>>;
using BigNumber = std::unique_ptr<BIGNUM, OpenSslDeleter<BN_free>>;

// Certificates are back-dated so that a clock a little behind the test's does not reject them.
constexpr long k_backdate_seconds = 3600;
constexpr long k_lifetime_seconds = 24 * 3600;

[[noreturn]] void fail(const std::string& what) {
    const std::string reasons = take_openssl_errors();
    throw std::runtime_error("test TLS: " + what + (reasons.empty() ? "" : ": " + reasons));
}

Key new_key() {
    Key key(EVP_EC_gen("P-256"));
    if (!key) {
        fail("cannot generate an EC P-256 key");
    }
    return key;
}

Bio memory_bio(const std::string& text) {
    Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    if (!bio) {
        fail("out of memory");
    }
    return bio;
}

Certificate read_certificate(const std::string& pem) {
    const Bio bio = memory_bio(pem);
    Certificate certificate(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!certificate) {
        fail("cannot read a PEM certificate");
    }
    return certificate;
}

Key read_key(const std::string& pem) {
    const Bio bio = memory_bio(pem);
    Key key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key) {
        fail("cannot read a PEM private key");
    }
    return key;
}

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(length));
}

std::string certificate_pem(X509* certificate) {
    const Bio bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), certificate) != 1) {
        fail("cannot write a PEM certificate");
    }
    return bio_text(bio.get());
}

std::string key_pem(EVP_PKEY* key) {
    const Bio bio(BIO_new(BIO_s_mem()));
    if (!bio ||
        PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        fail("cannot write a PEM private key");
    }
    return bio_text(bio.get());
}

// A random positive 127-bit serial: two certificates from one CA must never share one.
bool set_random_serial(X509* certificate) {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
        return false;
    }
    bytes[0] &= 0x7F;
    const BigNumber number(BN_bin2bn(bytes, sizeof bytes, nullptr));
    return number &&
           BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(certificate)) != nullptr;
}

// An unsigned v3 certificate for `key` named CN=common_name, valid from an hour ago for a day.
Certificate new_certificate(const std::string& common_name, EVP_PKEY* key) {
    Certificate certificate(X509_new());
    if (!certificate) {
        fail("out of memory");
    }
    X509* raw = certificate.get();
    X509_NAME* name = X509_get_subject_name(raw);
    const bool ok =
        X509_set_version(raw, X509_VERSION_3) == 1 && set_random_serial(raw) &&
        X509_gmtime_adj(X509_getm_notBefore(raw), -k_backdate_seconds) != nullptr &&
        X509_gmtime_adj(X509_getm_notAfter(raw), k_lifetime_seconds) != nullptr &&
        X509_set_pubkey(raw, key) == 1 &&
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                   -1, 0) == 1;
    if (!ok) {
        fail("cannot fill in the certificate for " + common_name);
    }
    return certificate;
}

// Adds an extension written as in openssl.cnf ("critical,CA:TRUE"); `issuer` is the signer.
void add_extension(X509* certificate, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX context{};
    X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
    const Extension extension(X509V3_EXT_nconf_nid(nullptr, &context, nid, value.c_str()));
    if (!extension || X509_add_ext(certificate, extension.get(), -1) != 1) {
        fail(std::string("cannot add ") + OBJ_nid2sn(nid) + " = " + value);
    }
}

void sign(X509* certificate, X509* issuer, EVP_PKEY* issuer_key) {
    if (X509_set_issuer_name(certificate, X509_get_subject_name(issuer)) != 1 ||
        X509_sign(certificate, issuer_key, EVP_sha256()) <= 0) {
        fail("cannot sign the certificate");
    }
}

}  // namespace

std::string take_openssl_errors() {
    std::string reasons;
    while (const unsigned long code = ERR_get_error()) {
        char text[256];
        ERR_error_string_n(code, text, sizeof text);
        reasons += (reasons.empty() ? "" : "; ") + std::string(text);
    }
    return reasons;
}

TestCa make_test_ca(const std::string& common_name) {
    const Key key = new_key();
    const Certificate certificate = new_certificate(common_name, key.get());
    X509* raw = certificate.get();
    add_extension(raw, raw, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(raw, raw, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(raw, raw, NID_subject_key_identifier, "hash");
    sign(raw, raw, key.get());
    return TestCa{common_name, certificate_pem(raw), key_pem(key.get())};
}

TlsFiles issue_server_certificate(const TestCa& ca, std::vector<std::string> dns_names,
                                  std::vector<std::string> ip_addresses) {
    if (dns_names.empty() && ip_addresses.empty()) {
        fail("a server certificate needs at least one DNS name or IP address");
    }
    std::string alt_names;
    for (const auto& dns_name : dns_names) {
        alt_names += (alt_names.empty() ? "DNS:" : ",DNS:") + dns_name;
    }
    for (const auto& ip_address : ip_addresses) {
        alt_names += (alt_names.empty() ? "IP:" : ",IP:") + ip_address;
    }
    const Certificate issuer = read_certificate(ca.certificate_pem);
    const Key issuer_key = read_key(ca.key_pem);
    const Key key = new_key();
    const Certificate certificate =
        new_certificate(dns_names.empty() ? ip_addresses.front() : dns_names.front(), key.get());
    X509* raw = certificate.get();
    add_extension(raw, issuer.get(), NID_basic_constraints, "critical,CA:FALSE");
    add_extension(raw, issuer.get(), NID_key_usage, "critical,digitalSignature");
    add_extension(raw, issuer.get(), NID_ext_key_usage, "serverAuth");
    add_extension(raw, issuer.get(), NID_subject_alt_name, alt_names);
    add_extension(raw, issuer.get(), NID_subject_key_identifier, "hash");
    add_extension(raw, issuer.get(), NID_authority_key_identifier, "keyid:always");
    sign(raw, issuer.get(), issuer_key.get());
    return TlsFiles{certificate_pem(raw), key_pem(key.get())};
}

}  // namespace dsvm::test
