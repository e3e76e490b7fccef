// SHA-256 and HMAC-SHA256 through OpenSSL's libcrypto (common/digest.h).
#include "common/digest.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include <stdexcept>

#include "common/secret.h"
#include "common/text.h"

namespace dsvm {

std::string sha256_hex(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("SHA-256 is not available from OpenSSL");
    }
    return hex_digits(digest, length);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &length);
    std::string hex = hex_digits(mac, length);
    wipe_bytes(mac, sizeof mac);
    return hex;
}

}  // namespace dsvm
