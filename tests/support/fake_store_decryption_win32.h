// A StoreDecryption (extension/crypto_win32.h) for the fakes build of the exe
// (tests/windows/agent_fakes_main.cpp): a memory store holding the throw-away test certificate of
// tests/data/protected-settings/, marked as having a private key in a key container that does not
// exist (the fake never uses it), and a CryptDecryptMessage that decrypts only that folder's
// settings.aes256.der, to its settings.json, and answers CRYPT_E_NO_DECRYPT_CERT for any other
// message. wine 8 has no CryptDecryptMessage (docs/windows.md); the real crypt32 still decodes
// the message and finds the certificate by thumbprint.
#pragma once

#define WIN32_LEAN_AND_MEAN
#include <windows.h>
// After windows.h, which it needs.
#include <wincrypt.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "extension/crypto_win32.h"

namespace dsvm::test {

// A file of tests/data/protected-settings/ (wine shows the host's / as Z:); empty when missing.
inline std::string protected_settings_file(const std::string& data_dir, const std::string& name) {
    std::ifstream in("Z:" + data_dir + "/protected-settings/" + name,
                     std::ios::binary | std::ios::ate);
    if (!in) {
        return {};
    }
    std::string text(static_cast<std::size_t>(in.tellg()), '\0');
    in.seekg(0);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    return in ? text : std::string();
}

inline extension::StoreDecryption fake_store_decryption(const std::string& data_dir) {
    extension::StoreDecryption api;
    api.store_name = "the test store";
    api.open_store = [data_dir]() -> Result<extension::CertificateStore> {
        extension::CertificateStore store(
            ::CertOpenStore(CERT_STORE_PROV_MEMORY, 0, 0, 0, nullptr));
        const std::string der = protected_settings_file(data_dir, "throwaway-identity.cer");
        const CERT_CONTEXT* added = nullptr;
        if (!store || !::CertAddEncodedCertificateToStore(
                          store.get(), X509_ASN_ENCODING, reinterpret_cast<const BYTE*>(der.data()),
                          static_cast<DWORD>(der.size()), CERT_STORE_ADD_ALWAYS, &added)) {
            return failure("the test store cannot be made from " + data_dir);
        }
        wchar_t container[] = L"dsvm-agent-fakes-no-such-container";
        CRYPT_KEY_PROV_INFO key{};
        key.pwszContainerName = container;
        key.dwProvType = PROV_RSA_AES;
        key.dwKeySpec = AT_KEYEXCHANGE;
        const BOOL marked =
            ::CertSetCertificateContextProperty(added, CERT_KEY_PROV_INFO_PROP_ID, 0, &key);
        ::CertFreeCertificateContext(added);
        if (!marked) {
            return failure("the test certificate cannot be marked as having a key");
        }
        return store;
    };
    api.decrypt = [data_dir](void*, const unsigned char* message, std::uint32_t size,
                             unsigned char* out, std::uint32_t* out_size) -> std::uint32_t {
        const std::string expected = protected_settings_file(data_dir, "settings.aes256.der");
        if (expected.empty() ||
            std::string(reinterpret_cast<const char*>(message), size) != expected) {
            return static_cast<std::uint32_t>(CRYPT_E_NO_DECRYPT_CERT);
        }
        const std::string plaintext = protected_settings_file(data_dir, "settings.json");
        if (*out_size < plaintext.size()) {
            *out_size = static_cast<std::uint32_t>(plaintext.size());
            return ERROR_MORE_DATA;
        }
        std::copy(plaintext.begin(), plaintext.end(), out);
        *out_size = static_cast<std::uint32_t>(plaintext.size());
        return ERROR_SUCCESS;
    };
    return api;
}

}  // namespace dsvm::test
