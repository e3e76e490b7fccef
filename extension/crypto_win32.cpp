#include "extension/crypto_win32.h"

#define WIN32_LEAN_AND_MEAN
#include <windows.h>
// After windows.h, which it needs.
#include <wincrypt.h>

#include <limits>

#include "common/digest.h"
#include "common/text.h"
#include "common/windows_api_win32.h"

namespace dsvm::extension {

namespace {

constexpr DWORD k_encoding = X509_ASN_ENCODING | PKCS_7_ASN_ENCODING;

struct CertificateFree {
    void operator()(const CERT_CONTEXT* certificate) const {
        ::CertFreeCertificateContext(certificate);
    }
};
using Certificate = std::unique_ptr<const CERT_CONTEXT, CertificateFree>;

struct MessageClose {
    void operator()(void* message) const { ::CryptMsgClose(message); }
};
using Message = std::unique_ptr<void, MessageClose>;

// Only decodes: without a key, the decoded message holds nothing but the ciphertext.
Result<void> check_enveloped(std::string_view der) {
    const Message message(::CryptMsgOpenToDecode(k_encoding, 0, 0, 0, nullptr, nullptr));
    if (!message) {
        return failure("cannot decode the protected settings: " +
                       windows_error_text(::GetLastError()));
    }
    if (!::CryptMsgUpdate(message.get(), reinterpret_cast<const BYTE*>(der.data()),
                          static_cast<DWORD>(der.size()), TRUE)) {
        return invalid("protectedSettings is not CMS data (DER) after base64 decoding: " +
                       windows_error_text(::GetLastError()));
    }
    DWORD type = 0;
    DWORD size = sizeof type;
    if (!::CryptMsgGetParam(message.get(), CMSG_TYPE_PARAM, 0, &type, &size) ||
        type != CMSG_ENVELOPED) {
        return invalid(
            "protectedSettings is CMS data but not EnvelopedData (data encrypted for a "
            "certificate)");
    }
    return {};
}

// The certificate's thumbprint in uppercase hex, empty when it cannot be had.
std::string thumbprint_of(const CERT_CONTEXT* certificate, ThumbprintDigest digest) {
    if (digest == ThumbprintDigest::Sha256) {
        std::string hex = sha256_hex(std::string_view(
            reinterpret_cast<const char*>(certificate->pbCertEncoded), certificate->cbCertEncoded));
        for (char& c : hex) {
            c = c >= 'a' && c <= 'f' ? static_cast<char>(c - 'a' + 'A') : c;
        }
        return hex;
    }
    BYTE sha1[20];
    DWORD size = sizeof sha1;
    if (!::CertGetCertificateContextProperty(certificate, CERT_SHA1_HASH_PROP_ID, sha1, &size)) {
        return {};
    }
    return hex_digits(sha1, size, HexCase::Upper);
}

Certificate find_certificate(HCERTSTORE store, const Thumbprint& wanted) {
    const CERT_CONTEXT* certificate = nullptr;
    // Each call frees the context it is given; the one returned is the caller's.
    while ((certificate = ::CertEnumCertificatesInStore(store, certificate)) != nullptr) {
        if (thumbprint_of(certificate, wanted.digest) == wanted.hex) {
            return Certificate(certificate);
        }
    }
    return nullptr;
}

bool has_private_key(const CERT_CONTEXT* certificate) {
    DWORD size = 0;
    return ::CertGetCertificateContextProperty(certificate, CERT_KEY_PROV_INFO_PROP_ID, nullptr,
                                               &size) != FALSE;
}

}  // namespace

void CertificateStoreCloser::operator()(void* store) const {
    ::CertCloseStore(store, 0);
}

StoreDecryption machine_store_decryption() {
    StoreDecryption api;
    api.store_name = "LocalMachine\\My";
    api.open_store = []() -> Result<CertificateStore> {
        CertificateStore store(::CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0,
                                               CERT_SYSTEM_STORE_LOCAL_MACHINE |
                                                   CERT_STORE_OPEN_EXISTING_FLAG |
                                                   CERT_STORE_READONLY_FLAG,
                                               L"My"));
        if (!store) {
            return failure("cannot open the certificate store LocalMachine\\My: " +
                           windows_error_text(::GetLastError()));
        }
        return store;
    };
    api.decrypt = [](void* para, const unsigned char* message, std::uint32_t size,
                     unsigned char* plaintext, std::uint32_t* plaintext_size) -> std::uint32_t {
        DWORD length = *plaintext_size;
        const BOOL decrypted = ::CryptDecryptMessage(static_cast<CRYPT_DECRYPT_MESSAGE_PARA*>(para),
                                                     message, size, plaintext, &length, nullptr);
        *plaintext_size = length;
        return decrypted ? ERROR_SUCCESS : ::GetLastError();
    };
    return api;
}

Result<SecretBytes> decrypt_with_store(const StoreDecryption& api, std::string_view thumbprint,
                                       std::string_view der) {
    auto wanted = parse_thumbprint(thumbprint);
    if (!wanted) {
        return wanted.error();
    }
    if (der.size() > std::numeric_limits<DWORD>::max()) {
        return invalid("protectedSettings is too large to be CMS data");
    }
    if (auto enveloped = check_enveloped(der); !enveloped) {
        return enveloped.error();
    }
    auto store = api.open_store();
    if (!store) {
        return store.error();
    }
    const std::string named = "the certificate " + wanted->hex + " in " + api.store_name +
                              " (protectedSettingsCertThumbprint)";
    const Certificate certificate = find_certificate(store->get(), *wanted);
    if (!certificate) {
        return failure("no certificate with thumbprint " + wanted->hex + " in " + api.store_name +
                       " for protectedSettingsCertThumbprint: the guest agent has not delivered "
                       "that certificate to this VM");
    }
    if (!has_private_key(certificate.get())) {
        return failure(named + " has no private key to decrypt with");
    }
    // CryptDecryptMessage takes the recipient from the stores it is given: only this certificate.
    const CertificateStore only(::CertOpenStore(CERT_STORE_PROV_MEMORY, 0, 0, 0, nullptr));
    if (!only || !::CertAddCertificateContextToStore(only.get(), certificate.get(),
                                                     CERT_STORE_ADD_ALWAYS, nullptr)) {
        return failure("cannot make a store holding only " + named + ": " +
                       windows_error_text(::GetLastError()));
    }
    HCERTSTORE stores[] = {only.get()};
    CRYPT_DECRYPT_MESSAGE_PARA para{};
    para.cbSize = sizeof para;
    para.dwMsgAndCertEncodingType = k_encoding;
    para.cCertStore = 1;
    para.rghCertStore = stores;
    // The content is never longer than the message that holds it.
    SecretBytes plaintext(der.size());
    auto size = static_cast<std::uint32_t>(plaintext.capacity());
    const std::uint32_t error =
        api.decrypt(&para, reinterpret_cast<const unsigned char*>(der.data()),
                    static_cast<std::uint32_t>(der.size()),
                    reinterpret_cast<unsigned char*>(plaintext.data()), &size);
    if (error == static_cast<std::uint32_t>(CRYPT_E_NO_DECRYPT_CERT)) {
        return failure("the protected settings are not encrypted for " + named +
                       ": it is not one of the recipients");
    }
    if (error != ERROR_SUCCESS) {
        return failure("cannot decrypt the protected settings with " + named + ": " +
                       windows_error_text(error) +
                       " (corrupted data, or a key this account may not use)");
    }
    if (size > plaintext.capacity()) {
        return failure("decrypting the protected settings with " + named +
                       " gave more bytes than the message holds");
    }
    plaintext.set_size(size);
    return plaintext;
}

Result<SecretBytes> decrypt_protected_settings(const Root& /*root*/, std::string_view thumbprint,
                                               std::string_view der) {
    return decrypt_with_store(machine_store_decryption(), thumbprint, der);
}

}  // namespace dsvm::extension
