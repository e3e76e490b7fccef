// Decrypting the extension's protected settings (docs/extension.md, "Settings") in process with
// OpenSSL's CMS API: base64-decoded DER CMS EnvelopedData, for the VM certificate the guest agent
// stored as /var/lib/waagent/<thumbprint>.crt (PEM) with its private key in <thumbprint>.prv (PEM).
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "common/root.h"
#include "common/secret.h"

namespace dsvm::extension {

// Where the guest agent keeps the VM's certificates, inside the root.
inline constexpr std::string_view k_waagent_dir = "/var/lib/waagent";

// The digest a thumbprint is made with: SHA-1 (40 hex digits) or SHA-256 (64).
enum class ThumbprintDigest { Sha1, Sha256 };

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

// Reads <thumbprint>.crt and <thumbprint>.prv under /var/lib/waagent inside the root (an
// uppercase name is tried when the given one is missing), checks the certificate's thumbprint,
// then decrypts with cms_decrypt. A missing file is a Runtime error naming it.
Result<SecretBytes> decrypt_protected_settings(const Root& root, std::string_view thumbprint,
                                               std::string_view der);

}  // namespace dsvm::extension
