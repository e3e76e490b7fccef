// Decrypting the extension's protected settings (docs/extension.md, "Settings"): base64-decoded
// DER CMS EnvelopedData, for the VM certificate protectedSettingsCertThumbprint names. Each
// platform has its half: OpenSSL with the PEM files the Linux guest agent stores
// (extension/crypto_posix.h), CryptDecryptMessage with the certificate the Windows guest agent
// puts in LocalMachine\My (extension/crypto_win32.h).
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "common/root.h"
#include "common/secret.h"

namespace dsvm::extension {

// The digest a thumbprint is made with: SHA-1 (40 hex digits) or SHA-256 (64).
enum class ThumbprintDigest { Sha1, Sha256 };

struct Thumbprint {
    ThumbprintDigest digest = ThumbprintDigest::Sha1;
    std::string hex;  // uppercase
};

// protectedSettingsCertThumbprint as a digest and its uppercase hex. Invalid, showing the text,
// unless it is 40 or 64 hex digits (either case).
Result<Thumbprint> parse_thumbprint(std::string_view text);

// Decrypts `der` for the certificate `thumbprint` names into SecretBytes, on the platform's half.
// Invalid when `der` is not CMS or not EnvelopedData; Runtime when the certificate or its private
// key is missing or unusable, the certificate is not a recipient, or decryption fails. A message
// names the certificate, never what was decrypted.
Result<SecretBytes> decrypt_protected_settings(const Root& root, std::string_view thumbprint,
                                               std::string_view der);

}  // namespace dsvm::extension
