#include "extension/crypto_posix.h"

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "common/fs.h"
#include "common/text.h"
#include "extension/files.h"

namespace dsvm::extension {

namespace {

struct BioFree {
    void operator()(BIO* bio) const { BIO_free_all(bio); }
};
struct X509Free {
    void operator()(X509* certificate) const { X509_free(certificate); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CmsFree {
    void operator()(CMS_ContentInfo* cms) const { CMS_ContentInfo_free(cms); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using CmsPtr = std::unique_ptr<CMS_ContentInfo, CmsFree>;

constexpr std::size_t k_max_key_file = 1024 * 1024;

// OpenSSL's queued errors as "reason; reason", emptied so they cannot leak into a later call.
std::string openssl_errors() {
    std::string text;
    while (const unsigned long code = ERR_get_error()) {
        const char* reason = ERR_reason_error_string(code);
        if (text.size() < 200) {
            text += std::string(text.empty() ? "" : "; ") +
                    (reason != nullptr ? reason : "error " + std::to_string(code));
        }
    }
    return text.empty() ? std::string("unknown OpenSSL error") : text;
}

// Whether the message has a key-transport recipient for this certificate (issuer and serial or
// subject key identifier). CMS_decrypt fails without a queued error when none matches.
bool is_recipient(CMS_ContentInfo* cms, X509* certificate) {
    STACK_OF(CMS_RecipientInfo)* recipients = CMS_get0_RecipientInfos(cms);
    for (int i = 0; i < sk_CMS_RecipientInfo_num(recipients); ++i) {
        CMS_RecipientInfo* recipient = sk_CMS_RecipientInfo_value(recipients, i);
        if (CMS_RecipientInfo_type(recipient) == CMS_RECIPINFO_TRANS &&
            CMS_RecipientInfo_ktri_cert_cmp(recipient, certificate) == 0) {
            return true;
        }
    }
    return false;
}

// A key file must never make OpenSSL prompt for a passphrase on a terminal.
int no_passphrase(char*, int, int, void*) {
    return 0;
}

BioPtr read_only_bio(std::string_view bytes) {
    return BioPtr(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
}

std::string upper(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return out;
}

// <dir>/<thumbprint><suffix>, or the uppercase name the guest agent writes when only that exists.
std::string certificate_file(const Root& root, std::string_view thumbprint,
                             std::string_view suffix) {
    const std::string dir(k_waagent_dir);
    const std::string given = dir + "/" + std::string(thumbprint) + std::string(suffix);
    const std::string uppercase = dir + "/" + upper(thumbprint) + std::string(suffix);
    return path_exists(root.path(given)) || !path_exists(root.path(uppercase)) ? given : uppercase;
}

}  // namespace

Result<std::string> certificate_thumbprint(std::string_view certificate_pem,
                                           ThumbprintDigest algorithm, std::string_view shown) {
    ERR_clear_error();
    auto bio = read_only_bio(certificate_pem);
    X509Ptr certificate(bio ? PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)
                            : nullptr);
    if (!certificate) {
        return failure("the certificate " + std::string(shown) +
                       " holds no PEM certificate: " + openssl_errors());
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (X509_digest(certificate.get(),
                    algorithm == ThumbprintDigest::Sha256 ? EVP_sha256() : EVP_sha1(), digest,
                    &length) != 1) {
        return failure("cannot compute the thumbprint of " + std::string(shown) + ": " +
                       openssl_errors());
    }
    return hex_digits(digest, length, HexCase::Upper);
}

Result<SecretBytes> cms_decrypt(std::string_view der, const RecipientKeys& keys) {
    ERR_clear_error();
    const auto* bytes = reinterpret_cast<const unsigned char*>(der.data());
    CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &bytes, static_cast<long>(der.size())));
    if (!cms) {
        return invalid("protectedSettings is not CMS data (DER) after base64 decoding: " +
                       openssl_errors());
    }
    if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_enveloped) {
        return invalid(
            "protectedSettings is CMS data but not EnvelopedData (data encrypted for a "
            "certificate)");
    }
    auto certificate_bio = read_only_bio(keys.certificate_pem);
    X509Ptr certificate(
        certificate_bio ? PEM_read_bio_X509(certificate_bio.get(), nullptr, no_passphrase, nullptr)
                        : nullptr);
    if (!certificate) {
        return failure("the certificate " + keys.certificate_name +
                       " holds no PEM certificate: " + openssl_errors());
    }
    auto key_bio = read_only_bio(keys.key_pem.view());
    PkeyPtr key(key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, no_passphrase, nullptr)
                        : nullptr);
    if (!key) {
        return failure("the private key " + keys.key_name +
                       " holds no unencrypted PEM private key: " + openssl_errors());
    }
    if (X509_check_private_key(certificate.get(), key.get()) != 1) {
        ERR_clear_error();
        return failure("the private key " + keys.key_name + " does not belong to the certificate " +
                       keys.certificate_name);
    }
    if (!is_recipient(cms.get(), certificate.get())) {
        return failure("the protected settings are not encrypted for the certificate " +
                       keys.certificate_name +
                       " (protectedSettingsCertThumbprint names a certificate that is not one of "
                       "the recipients)");
    }
    // The secure-memory BIO wipes the plaintext when it is freed.
    BioPtr out(BIO_new(BIO_s_secmem()));
    if (!out) {
        return failure("cannot allocate memory for the plaintext: " + openssl_errors());
    }
    if (CMS_decrypt(cms.get(), key.get(), certificate.get(), nullptr, out.get(), 0) != 1) {
        return failure("cannot decrypt the protected settings with " + keys.key_name + ": " +
                       openssl_errors() + " (corrupted data, or encrypted for another key)");
    }
    char* plaintext = nullptr;
    const long length = BIO_get_mem_data(out.get(), &plaintext);
    SecretBytes result(length > 0 ? static_cast<std::size_t>(length) : 0);
    if (length > 0) {
        result.append(std::string_view(plaintext, static_cast<std::size_t>(length)));
    }
    return result;
}

Result<SecretBytes> decrypt_protected_settings(const Root& root, std::string_view thumbprint,
                                               std::string_view der) {
    RecipientKeys keys;
    keys.certificate_name = certificate_file(root, thumbprint, ".crt");
    keys.key_name = certificate_file(root, thumbprint, ".prv");
    auto certificate = read_file_if_exists(root.path(keys.certificate_name));
    if (!certificate) {
        return certificate.error();
    }
    if (!certificate->found) {
        return failure("no certificate " + keys.certificate_name +
                       " for protectedSettingsCertThumbprint " + std::string(thumbprint) +
                       ": the guest agent has not delivered that certificate to this VM");
    }
    keys.certificate_pem = std::move(certificate->text);
    auto actual = certificate_thumbprint(
        keys.certificate_pem,
        thumbprint.size() == 64 ? ThumbprintDigest::Sha256 : ThumbprintDigest::Sha1,
        keys.certificate_name);
    if (!actual) {
        return actual.error();
    }
    if (*actual != upper(thumbprint)) {
        return failure("the certificate " + keys.certificate_name + " has thumbprint " + *actual +
                       ", not " + std::string(thumbprint));
    }
    if (!path_exists(root.path(keys.key_name))) {
        return failure("no private key " + keys.key_name + " for certificate " +
                       keys.certificate_name);
    }
    auto key = read_secret_file(root.path(keys.key_name), "the private key " + keys.key_name,
                                k_max_key_file);
    if (!key) {
        return key.error();
    }
    keys.key_pem = std::move(key).value();
    return cms_decrypt(der, keys);
}

}  // namespace dsvm::extension
