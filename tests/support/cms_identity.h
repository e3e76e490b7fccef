// Throw-away certificates and CMS EnvelopedData for the extension tests: what the guest agent
// stores under /var/lib/waagent and what Azure sends as protected settings.
#pragma once

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>

namespace dsvm::test {

// A throw-away RSA key and self-signed certificate, as the guest agent stores them.
struct Identity {
    std::shared_ptr<X509> certificate;
    std::string certificate_pem;
    std::string key_pem;
    std::string thumbprint;  // SHA-1 of the DER certificate, uppercase hex
};

inline std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<size_t>(length));
}

inline std::string hex_upper(const unsigned char* bytes, unsigned int length) {
    static constexpr char k_hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned int i = 0; i < length; ++i) {
        out.push_back(k_hex[bytes[i] >> 4]);
        out.push_back(k_hex[bytes[i] & 0x0F]);
    }
    return out;
}

inline Identity make_identity(const char* common_name) {
    std::shared_ptr<EVP_PKEY> key(EVP_RSA_gen(2048), EVP_PKEY_free);
    REQUIRE(key);
    std::shared_ptr<X509> certificate(X509_new(), X509_free);
    X509_set_version(certificate.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(certificate.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(certificate.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(certificate.get()), 3600);
    X509_set_pubkey(certificate.get(), key.get());
    X509_NAME* name = X509_get_subject_name(certificate.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
    X509_set_issuer_name(certificate.get(), name);
    REQUIRE(X509_sign(certificate.get(), key.get(), EVP_sha256()) > 0);

    Identity identity;
    identity.certificate = certificate;
    std::unique_ptr<BIO, decltype(&BIO_free)> cert_bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_X509(cert_bio.get(), certificate.get());
    identity.certificate_pem = bio_text(cert_bio.get());
    std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    identity.key_pem = bio_text(key_bio.get());
    // The thumbprint the way Azure computes it: SHA-1 over the certificate's DER bytes.
    unsigned char* der = nullptr;
    const int der_length = i2d_X509(certificate.get(), &der);
    REQUIRE(der_length > 0);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_length = 0;
    EVP_Digest(der, static_cast<size_t>(der_length), digest, &digest_length, EVP_sha1(), nullptr);
    OPENSSL_free(der);
    identity.thumbprint = hex_upper(digest, digest_length);
    return identity;
}

// Identities are slow to make; the tests share two.
inline const Identity& vm_identity() {
    static const Identity identity = make_identity("vm certificate");
    return identity;
}
inline const Identity& other_identity() {
    static const Identity identity = make_identity("another certificate");
    return identity;
}

// DER CMS EnvelopedData of `plaintext` for the identity's certificate.
inline std::string encrypt_for(const Identity& identity, const std::string& plaintext) {
    std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509)*)> recipients(
        sk_X509_new_null(), [](STACK_OF(X509) * stack) { sk_X509_free(stack); });
    sk_X509_push(recipients.get(), identity.certificate.get());
    std::unique_ptr<BIO, decltype(&BIO_free)> in(
        BIO_new_mem_buf(plaintext.data(), static_cast<int>(plaintext.size())), BIO_free);
    std::unique_ptr<CMS_ContentInfo, decltype(&CMS_ContentInfo_free)> cms(
        CMS_encrypt(recipients.get(), in.get(), EVP_aes_256_cbc(), CMS_BINARY),
        CMS_ContentInfo_free);
    REQUIRE(cms);
    std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
    REQUIRE(i2d_CMS_bio(out.get(), cms.get()) == 1);
    return bio_text(out.get());
}

inline std::string base64_encode(const std::string& bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                       reinterpret_cast<const unsigned char*>(bytes.data()),
                                       static_cast<int>(bytes.size()));
    out.resize(static_cast<size_t>(length));
    return out;
}

}  // namespace dsvm::test
