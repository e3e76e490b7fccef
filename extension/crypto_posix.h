// Linux's half of the protected settings' decryption (extension/crypto.h), with OpenSSL's CMS API
// in process: the VM certificate the guest agent stored as /var/lib/waagent/<thumbprint>.crt
// (PEM) with its private key in <thumbprint>.prv (PEM).
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "common/secret.h"
#include "extension/crypto.h"

namespace dsvm::extension {

// Where the guest agent keeps the VM's certificates, inside the root.
inline constexpr std::string_view k_waagent_dir = "/var/lib/waagent";

// The certificate's thumbprint in uppercase hex: the digest of its DER form. Runtime error,
// naming `shown`, when the text holds no PEM certificate.
Result<std::string> certificate_thumbprint(std::string_view certificate_pem,
                                           ThumbprintDigest digest, std::string_view shown);

// The files to decrypt with, as the admin knows them (for messages) and their PEM text.
struct RecipientKeys {
    std::string certificate_name;  // "/var/lib/waagent/<T>.crt"
    std::string certificate_pem;
    std::string key_name;  // "/var/lib/waagent/<T>.prv"
    SecretBytes key_pem;
};

// Decrypts `der` (CMS EnvelopedData) for the recipient. Invalid when `der` is not CMS or not
// EnvelopedData; Runtime when the certificate or key cannot be read, do not belong together, are
// not a recipient of the message, or decryption fails. The plaintext goes from a BIO_s_secmem
// (which OpenSSL clears when it frees it) straight into the returned SecretBytes.
Result<SecretBytes> cms_decrypt(std::string_view der, const RecipientKeys& keys);

// decrypt_protected_settings (extension/crypto.h) on Linux reads <thumbprint>.crt and
// <thumbprint>.prv under /var/lib/waagent inside the root (an uppercase name is tried when the
// given one is missing), checks the certificate's thumbprint, then decrypts with cms_decrypt. A
// missing file is a Runtime error naming it.

}  // namespace dsvm::extension
