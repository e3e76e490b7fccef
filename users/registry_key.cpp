#include "users/registry_key.h"

#include "common/digest.h"
#include "common/fd.h"
#include "common/fs.h"
#include "common/ids.h"
#include "common/safe_open.h"
#include "common/text.h"

namespace dsvm::users {

namespace {

constexpr std::size_t k_min_key = 32;
constexpr std::size_t k_max_key = 256;
constexpr std::string_view k_key_rule =
    "a registry key is 32 to 256 printable ASCII characters without spaces (make one with "
    "`openssl rand -base64 32`)";
constexpr std::string_view k_id_label = "dsvm-agent registry key id";

std::string directory_of(std::string_view path) {
    return std::string(path.substr(0, path.rfind('/')));
}
std::string name_of(std::string_view path) {
    return std::string(path.substr(path.rfind('/') + 1));
}

// The file holds the key and one newline.
std::string_view key_text(const SecretBytes& bytes) {
    std::string_view text = bytes.view();
    if (!text.empty() && text.back() == '\n') {
        text.remove_suffix(1);
    }
    return text;
}

Result<void> read_key(int directory, std::string_view path, SecretBytes& key, std::string& id) {
    auto file = read_secret_file_at(directory, name_of(path), std::string(path), k_max_key + 1);
    if (!file) {
        return file.error();
    }
    if (!file->found) {
        return {};
    }
    if (auto checked = check_registry_key(key_text(file->bytes)); !checked) {
        return failure(std::string(path) + ": " + checked.error().message);
    }
    id = registry_key_id(key_text(file->bytes));
    key = std::move(file->bytes);
    key.set_size(key_text(key).size());
    return {};
}

// The credentials directory, root's alone: created 0700 when missing; an existing one must be a
// directory owned by root that nobody else can write (the storage keys live there too).
Result<Fd> open_key_directory(const Root& root, bool create) {
    const std::string shown = directory_of(k_registry_key_path);
    const std::string real = root.path(shown);
    if (create) {
        if (auto made = make_directories(real, 0700); !made) {
            return made.error();
        }
    }
    auto directory = open_directory_nofollow(real);
    if (!directory.fd) {
        if (directory.failure == DirectoryFailure::Missing && !create) {
            return Fd();
        }
        return failure("cannot open " + shown + ": " + directory.error +
                       " (it must be a directory owned by root, mode 0700, not a symlink)");
    }
    if (auto owned = check_private_owner(directory.fd.get(), effective_uid(), shown); !owned) {
        return with_context("the registry key's directory", owned.error());
    }
    return std::move(directory.fd);
}

}  // namespace

Result<void> check_registry_key(std::string_view key) {
    if (key.size() < k_min_key || key.size() > k_max_key) {
        return invalid("the registry key is " + std::to_string(key.size()) +
                       " characters long: " + std::string(k_key_rule));
    }
    for (const char c : key) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte >= 0x7f) {
            return invalid(
                "the registry key contains a space, a control character or a "
                "non-ASCII byte: " +
                std::string(k_key_rule));
        }
    }
    return {};
}

std::string registry_key_id(std::string_view key) {
    // SHA-256 of the label, a NUL and the key; the first 8 bytes, in hex.
    SecretBytes labelled(k_id_label.size() + 1 + key.size());
    labelled.append(k_id_label);
    labelled.push_back('\0');
    labelled.append(key);
    return sha256_hex(labelled.view()).substr(0, 16);
}

Result<RegistryKeys> read_registry_keys(const Root& root) {
    RegistryKeys keys;
    auto directory = open_key_directory(root, false);
    if (!directory) {
        return directory.error();
    }
    if (!*directory) {
        return keys;
    }
    if (auto read = read_key(directory->get(), k_registry_key_path, keys.current, keys.current_id);
        !read) {
        return read.error();
    }
    if (auto read = read_key(directory->get(), k_previous_registry_key_path, keys.previous,
                             keys.previous_id);
        !read) {
        return read.error();
    }
    return keys;
}

Result<void> write_registry_keys(const Root& root, std::string_view current,
                                 std::string_view previous) {
    if (auto checked = check_registry_key(current); !checked) {
        return checked;
    }
    if (!previous.empty()) {
        if (auto checked = check_registry_key(previous); !checked) {
            return invalid("previous key: " + checked.error().message);
        }
    }
    auto directory = open_key_directory(root, true);
    if (!directory) {
        return directory.error();
    }
    const std::string shown = directory_of(k_registry_key_path);
    ReplaceOptions options;
    options.mode = 0600;
    options.uid = effective_uid();
    options.gid = effective_gid();
    // The previous key first: a pass that reads the keys between the two writes then still holds
    // every key a registry may be signed with.
    for (const auto& [path, key] : {std::pair{k_previous_registry_key_path, previous},
                                    std::pair{k_registry_key_path, current}}) {
        if (key.empty()) {
            if (auto removed = remove_file_at(directory->get(), name_of(path), std::string(path));
                !removed) {
                return removed;
            }
            continue;
        }
        SecretBytes content(key.size() + 1);
        content.append(key);
        content.push_back('\n');
        if (auto written =
                replace_file_at(directory->get(), name_of(path), content.view(), options, shown);
            !written) {
            return written;
        }
    }
    return {};
}

}  // namespace dsvm::users
