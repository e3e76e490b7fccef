#include "windows/random_password.h"

#include <array>

#include "common/text.h"

namespace dsvm::windows_platform {

namespace {

constexpr std::string_view k_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&*+-.:;=?@^_~";
// The largest multiple of the alphabet's size that fits a byte: bytes at or above it are drawn
// again, so every character is equally likely.
constexpr unsigned k_accepted = 256 - 256 % k_alphabet.size();
constexpr unsigned k_draws = 16;

char lower_case(char c) {
    return ascii::is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c;
}

// Compared in place: a lower-case copy of the password would be one more copy to wipe.
bool holds_ignoring_case(std::string_view text, std::string_view part) {
    for (std::size_t at = 0; at + part.size() <= text.size(); ++at) {
        std::size_t matched = 0;
        while (matched < part.size() &&
               lower_case(text[at + matched]) == lower_case(part[matched])) {
            ++matched;
        }
        if (matched == part.size()) {
            return true;
        }
    }
    return false;
}

bool complex_enough(std::string_view password, std::string_view account) {
    bool upper = false;
    bool lower = false;
    bool digit = false;
    bool symbol = false;
    for (const char c : password) {
        upper = upper || ascii::is_upper(c);
        lower = lower || ascii::is_lower(c);
        digit = digit || ascii::is_digit(c);
        symbol = symbol || !ascii::is_alnum(c);
    }
    // Windows refuses a password holding the account name when that is 3 characters or more.
    if (account.size() >= 3 && holds_ignoring_case(password, account)) {
        return false;
    }
    return upper && lower && digit && symbol;
}

}  // namespace

Result<SecretBytes> random_password(std::string_view account, const RandomSource& random) {
    std::array<unsigned char, 64> bytes{};
    for (unsigned draw = 0; draw < k_draws; ++draw) {
        SecretBytes password(k_password_length);
        std::size_t used = bytes.size();
        while (password.size() < k_password_length) {
            if (used == bytes.size()) {
                if (random(bytes.data(), bytes.size()) != 0) {
                    wipe_bytes(bytes.data(), bytes.size());
                    return failure(
                        "cannot make a random password: the system's random number "
                        "generator failed");
                }
                used = 0;
            }
            const unsigned byte = bytes[used++];
            if (byte < k_accepted) {
                password.push_back(k_alphabet[byte % k_alphabet.size()]);
            }
        }
        if (complex_enough(password.view(), account)) {
            wipe_bytes(bytes.data(), bytes.size());
            return password;
        }
    }
    wipe_bytes(bytes.data(), bytes.size());
    return failure("cannot make a random password that meets the Windows complexity rules");
}

}  // namespace dsvm::windows_platform
