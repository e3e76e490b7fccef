// SHA-256 and HMAC-SHA256 through CNG (common/digest.h): Windows' own crypto, as docs/windows.md
// says, since there is no OpenSSL on Windows.
#include "common/digest.h"

#define WIN32_LEAN_AND_MEAN
#include <windows.h>
// After windows.h, whose types it uses.
#include <bcrypt.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <memory>
#include <stdexcept>

#include "common/secret.h"
#include "common/text.h"

namespace dsvm {

namespace {

constexpr ULONG k_sha256_size = 32;

[[noreturn]] void fail(const char* what, NTSTATUS status) {
    char code[16];
    std::snprintf(code, sizeof code, "0x%08lx", static_cast<unsigned long>(status));
    throw std::runtime_error(std::string("SHA-256 is not available from CNG: ") + what +
                             " failed with NTSTATUS " + code);
}

void check(NTSTATUS status, const char* what) {
    if (!BCRYPT_SUCCESS(status)) {
        fail(what, status);
    }
}

class Algorithm {
  public:
    explicit Algorithm(ULONG flags) {
        check(::BCryptOpenAlgorithmProvider(&m_handle, BCRYPT_SHA256_ALGORITHM, nullptr, flags),
              "BCryptOpenAlgorithmProvider");
    }
    Algorithm(const Algorithm&) = delete;
    Algorithm& operator=(const Algorithm&) = delete;
    ~Algorithm() { ::BCryptCloseAlgorithmProvider(m_handle, 0); }
    BCRYPT_ALG_HANDLE get() const { return m_handle; }

  private:
    BCRYPT_ALG_HANDLE m_handle = nullptr;
};

// A hash and the object CNG keeps its state in: for HMAC that state holds the key (padded into
// the inner and outer blocks), so the object is wiped when the hash is destroyed.
class Hash {
  public:
    // `key` is null for a plain hash; for HMAC it may be empty, never null.
    Hash(const Algorithm& algorithm, const unsigned char* key, ULONG key_size) {
        ULONG object_size = 0;
        ULONG got = 0;
        check(::BCryptGetProperty(algorithm.get(), BCRYPT_OBJECT_LENGTH,
                                  reinterpret_cast<PUCHAR>(&object_size), sizeof object_size, &got,
                                  0),
              "BCryptGetProperty(BCRYPT_OBJECT_LENGTH)");
        m_object = SecretBytes(object_size);
        // CNG copies the key into the object, so the caller's copy is the only other one.
        check(::BCryptCreateHash(algorithm.get(), &m_handle,
                                 reinterpret_cast<PUCHAR>(m_object.data()), object_size,
                                 const_cast<PUCHAR>(key), key_size, 0),
              "BCryptCreateHash");
    }
    Hash(const Hash&) = delete;
    Hash& operator=(const Hash&) = delete;
    ~Hash() {
        if (m_handle != nullptr) {
            ::BCryptDestroyHash(m_handle);
        }
        // m_object (SecretBytes) wipes its whole capacity as it goes.
    }

    void add(std::string_view data) {
        // BCryptHashData takes a ULONG length: a larger input goes in pieces.
        while (!data.empty()) {
            const auto piece =
                std::min<std::size_t>(data.size(), std::numeric_limits<ULONG>::max());
            check(
                ::BCryptHashData(m_handle, reinterpret_cast<PUCHAR>(const_cast<char*>(data.data())),
                                 static_cast<ULONG>(piece), 0),
                "BCryptHashData");
            data.remove_prefix(piece);
        }
    }

    std::string finish_hex() {
        unsigned char digest[k_sha256_size];
        check(::BCryptFinishHash(m_handle, digest, sizeof digest, 0), "BCryptFinishHash");
        std::string hex = hex_digits(digest, sizeof digest);
        wipe_bytes(digest, sizeof digest);
        return hex;
    }

  private:
    SecretBytes m_object;
    BCRYPT_HASH_HANDLE m_handle = nullptr;
};

}  // namespace

std::string sha256_hex(std::string_view data) {
    const Algorithm algorithm(0);
    Hash hash(algorithm, nullptr, 0);
    hash.add(data);
    return hash.finish_hex();
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
    if (key.size() > std::numeric_limits<ULONG>::max()) {
        throw std::runtime_error("an HMAC key of more than 4 GiB is not supported");
    }
    const unsigned char no_key = 0;
    const auto* secret = key.empty() ? &no_key : reinterpret_cast<const unsigned char*>(key.data());
    const Algorithm algorithm(BCRYPT_ALG_HANDLE_HMAC_FLAG);
    Hash hash(algorithm, secret, static_cast<ULONG>(key.size()));
    hash.add(data);
    return hash.finish_hex();
}

}  // namespace dsvm
