// Windows' half of the protected settings' decryption (extension/crypto.h). The Windows guest
// agent puts the VM certificate, with its private key, in the machine's personal store
// (LocalMachine\My): it is found there by thumbprint, and the message is decrypted with
// CryptDecryptMessage for that certificate alone, straight into SecretBytes. The store is the
// machine's whatever the root: Windows keeps it in its own storage, not in a file under a root.
//
// The store and the call are seams (docs/windows.md, "The extension's protected settings"):
// wine 8's crypt32 has no CryptDecryptMessage, so the tests give a memory store holding a test
// certificate and a recording fake of the call.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/secret.h"
#include "extension/crypto.h"

namespace dsvm::extension {

// Closes an open certificate store (an HCERTSTORE).
struct CertificateStoreCloser {
    void operator()(void* store) const;
};
using CertificateStore = std::unique_ptr<void, CertificateStoreCloser>;

// CryptDecryptMessage(para, message, size, plaintext, plaintext_size, nullptr), `para` a
// CRYPT_DECRYPT_MESSAGE_PARA: 0 when it decrypted, else the error it left for GetLastError.
using DecryptMessage =
    std::function<std::uint32_t(void* para, const unsigned char* message, std::uint32_t size,
                                unsigned char* plaintext, std::uint32_t* plaintext_size)>;

struct StoreDecryption {
    // Opens the store the certificate is looked up in; a Runtime error says why it cannot.
    std::function<Result<CertificateStore>()> open_store;
    std::string store_name;  // in messages: "LocalMachine\My"
    DecryptMessage decrypt;
};

// LocalMachine\My, opened read-only, and ::CryptDecryptMessage.
StoreDecryption machine_store_decryption();

// decrypt_protected_settings through `api`. Invalid when the thumbprint is not 40 or 64 hex
// digits, or `der` is not CMS EnvelopedData (checked before the store is opened). Runtime when
// the store cannot be opened, holds no certificate with that thumbprint or only one without its
// private key, or `api.decrypt` fails: CRYPT_E_NO_DECRYPT_CERT is "not encrypted for that
// certificate", any other error is named. The plaintext is written only into the returned
// SecretBytes, which wipes it; on a failure nothing of it is kept.
Result<SecretBytes> decrypt_with_store(const StoreDecryption& api, std::string_view thumbprint,
                                       std::string_view der);

}  // namespace dsvm::extension
