#include "users/password.h"

#include <crypt.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

#include "common/fs.h"
#include "common/secret.h"

namespace dsvm::users {

namespace {

// libxcrypt refuses phrases of CRYPT_MAX_PASSPHRASE_SIZE (512, counting the NUL) or more;
// refusing them here makes that an Invalid input with a clear message instead of a Runtime
// failure from crypt_rn.
constexpr std::size_t k_max_password = CRYPT_MAX_PASSPHRASE_SIZE - 1;
constexpr std::size_t k_min_hash = 20;
constexpr std::size_t k_max_hash = 512;
constexpr std::array<std::string_view, 3> k_hash_prefixes = {"$y$", "$6$", "$2b$"};

// crypt_data is tens of kilobytes (too big for the stack) and holds the password's
// intermediate state, so it is wiped before the memory goes back to the allocator.
struct WipingDelete {
    void operator()(crypt_data* data) const {
        wipe_bytes(data, sizeof *data);
        delete data;
    }
};

}  // namespace

Result<std::string> hash_password(std::string_view clear) {
    // Messages name the rule only: the password must never reach a log.
    if (clear.empty()) {
        return invalid("the password is empty");
    }
    if (clear.size() > k_max_password) {
        return invalid("the password is longer than " + std::to_string(k_max_password) + " bytes");
    }
    if (clear.find_first_of(std::string_view("\0\n\r", 3)) != clear.npos) {
        return invalid("the password contains a NUL byte or a line break");
    }

    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    if (crypt_gensalt_rn("$y$", 0, nullptr, 0, salt, sizeof salt) == nullptr) {
        return failure("cannot make a yescrypt salt: " + errno_text(errno));
    }
    std::unique_ptr<crypt_data, WipingDelete> data(new crypt_data());
    // crypt_rn wants a NUL-terminated phrase; libxcrypt provides `input` for it, so the only
    // copy lives in memory that is wiped anyway.
    std::memcpy(data->input, clear.data(), clear.size());
    data->input[clear.size()] = '\0';
    const char* hashed = crypt_rn(data->input, salt, data.get(), sizeof *data);
    // libxcrypt reports failure with a null pointer, or with a "*"-prefixed string if asked to.
    if (hashed == nullptr || hashed[0] == '*') {
        return failure("cannot hash the password with yescrypt: " + errno_text(errno));
    }
    std::string result(hashed);
    if (!is_password_hash(result) || result.rfind("$y$", 0) != 0) {
        return failure("libcrypt returned something that is not a yescrypt hash");
    }
    return result;
}

bool is_password_hash(std::string_view text) {
    if (text.size() < k_min_hash || text.size() > k_max_hash) {
        return false;
    }
    bool known = false;
    for (const auto prefix : k_hash_prefixes) {
        known = known || text.substr(0, prefix.size()) == prefix;
    }
    if (!known) {
        return false;
    }
    for (const char c : text) {
        // Printable ASCII without space; ':' would split the shadow line.
        if (c < '!' || c > '~' || c == ':') {
            return false;
        }
    }
    return true;
}

}  // namespace dsvm::users
