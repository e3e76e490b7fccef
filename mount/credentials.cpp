#include "mount/credentials.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>

#include "common/fd.h"
#include "common/fs.h"
#include "common/safe_open.h"
#include "common/secret.h"
#include "common/text.h"
#include "mount/credentials_files.h"

namespace dsvm::mount {

namespace {

using ascii::is_alnum;

constexpr std::string_view k_suffix = ".cred";
constexpr size_t k_max_name = 63;
constexpr size_t k_max_key = 4096;
constexpr std::string_view k_name_rule =
    "names must match [A-Za-z0-9][A-Za-z0-9._-]{0,62} without '..' (a storage account or "
    "server name)";

bool is_name_char(char c) {
    return is_alnum(c) || c == '.' || c == '_' || c == '-';
}

// `what` says which value broke the rule ("credentials name", "user name").
Result<void> check_name_like(std::string_view what, std::string_view value) {
    const std::string shown = std::string(what) + " '" + printable(value) + "'";
    if (value.empty()) {
        return invalid("empty " + std::string(what) + ": " + std::string(k_name_rule));
    }
    if (value.size() > k_max_name) {
        return invalid(shown + " is " + std::to_string(value.size()) + " characters long: " +
                       std::string(k_name_rule) + " (at most 63 characters)");
    }
    if (!is_alnum(value.front()) || !std::all_of(value.begin(), value.end(), is_name_char) ||
        value.find("..") != std::string_view::npos) {
        return invalid(shown + " is not allowed: " + std::string(k_name_rule));
    }
    return {};
}

constexpr std::string_view k_username_label = "username=";
constexpr std::string_view k_password_label = "password=";
// The longest file render_credentials makes: both labels, the longest name and key.
constexpr size_t k_max_file =
    k_username_label.size() + k_max_name + 1 + k_password_label.size() + k_max_key + 1;

Error missing_credentials(std::string_view name) {
    return failure("no credentials for '" + std::string(name) + "': " + credentials_path(name) +
                   " does not exist; store the key with " + credentials_set_command(name));
}

// NAME.cred's content, read only when inspect_credentials finds it secure (the reader checks
// again on the open file, so a file swapped in between is refused too).
Result<SecretFile> read_secure_file(const Root& root, std::string_view name, size_t max_bytes) {
    auto file = inspect_credentials(root, name);
    if (!file) {
        return file.error();
    }
    if (!file->secure) {
        return failure("refusing to use " + file->path + ": " + file->problem);
    }
    auto directory = open_directory_below(root.dir(), k_credentials_dir);
    if (!directory) {
        return in_root_terms(root, directory.error());
    }
    auto read = read_secret_file_at(directory->get(), std::string(name) + std::string(k_suffix),
                                    file->path, max_bytes);
    if (read && !read->found) {
        return missing_credentials(name);
    }
    return read;
}

}  // namespace

Error in_root_terms(const Root& root, Error error) {
    if (root.is_host()) {
        return error;
    }
    const std::string prefix = root.dir() + "/";
    for (size_t at = error.message.find(prefix); at != std::string::npos;
         at = error.message.find(prefix, at + 1)) {
        error.message.replace(at, prefix.size(), "/");
    }
    return error;
}

std::string credentials_set_command(std::string_view name) {
    return "`dsvm-agent credentials set " + std::string(name) + " --key-stdin`";
}

Result<void> check_credentials_name(std::string_view name) {
    return check_name_like("credentials name", name);
}

Result<void> check_storage_key(std::string_view key) {
    static constexpr std::string_view k_rule =
        "a storage key is 1-4096 bytes of printable ASCII without leading or trailing spaces";
    if (key.empty()) {
        return invalid("the storage key is empty: " + std::string(k_rule));
    }
    if (key.size() > k_max_key) {
        return invalid("the storage key is " + std::to_string(key.size()) +
                       " bytes long: " + std::string(k_rule));
    }
    // Name the kind of byte, never its position or neighbours: those would reveal the key.
    for (const char c : key) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '\n' || c == '\r') {
            return invalid("the storage key contains a line break: " + std::string(k_rule) +
                           " (a line break would add lines to the credentials file)");
        }
        if (byte < 0x20 || byte == 0x7f) {
            return invalid("the storage key contains a control character: " + std::string(k_rule));
        }
        if (byte > 0x7f) {
            return invalid("the storage key contains a non-ASCII byte: " + std::string(k_rule));
        }
    }
    if (key.front() == ' ' || key.back() == ' ') {
        return invalid("the storage key starts or ends with a space: " + std::string(k_rule) +
                       " (a copy-and-paste slip)");
    }
    return {};
}

std::string credentials_path(std::string_view name) {
    return std::string(k_credentials_dir) + "/" + std::string(name) + std::string(k_suffix);
}

std::string render_credentials(std::string_view username, std::string_view key) {
    std::string out;
    out.reserve(username.size() + key.size() + 20);
    out += "username=";
    out += username;
    out += "\npassword=";
    out += key;
    out += "\n";
    return out;
}

Result<void> write_credentials(const Root& root, std::string_view name, std::string_view username,
                               std::string_view key) {
    if (auto checked = check_credentials_name(name); !checked) {
        return checked;
    }
    if (auto checked = check_name_like("user name", username); !checked) {
        return checked;
    }
    if (auto checked = check_storage_key(key); !checked) {
        return checked;
    }
    if (auto prepared = prepare_credentials_directory(root); !prepared) {
        return prepared;
    }
    std::string content = render_credentials(username, key);
    // Wipe our copy of the key once written, so it does not linger in freed heap memory.
    ScopeGuard wipe([&] { wipe_bytes(content.data(), content.size()); });
    if (auto written = write_file_atomic(root.path(credentials_path(name)), content, 0600);
        !written) {
        return in_root_terms(root, written.error());
    }
    return {};
}

Result<CredentialsFile> inspect_credentials(const Root& root, std::string_view name) {
    if (auto checked = check_credentials_name(name); !checked) {
        return checked.error();
    }
    auto dir_problem = credentials_directory_problem(root);
    if (!dir_problem) {
        return dir_problem.error();
    }
    auto inspected = inspect_credentials_file(root, name, *dir_problem);
    if (!inspected) {
        return inspected.error();
    }
    if (!inspected->found) {
        return missing_credentials(name);
    }
    return std::move(inspected->file);
}

Result<std::vector<CredentialsFile>> list_credentials(const Root& root) {
    std::vector<CredentialsFile> files;
    const std::string dir(k_credentials_dir);
    std::error_code error;
    std::filesystem::directory_iterator entry(root.path(dir), error);
    if (error == std::errc::no_such_file_or_directory) {
        return files;
    }
    if (error) {
        return failure("cannot list " + dir + ": " + error.message());
    }
    auto dir_problem = credentials_directory_problem(root);
    if (!dir_problem) {
        return dir_problem.error();
    }
    std::vector<std::string> names;
    for (const std::filesystem::directory_iterator end; entry != end; entry.increment(error)) {
        const auto utf8 = entry->path().filename().u8string();
        const std::string file_name(utf8.begin(), utf8.end());
        if (file_name.size() <= k_suffix.size() ||
            file_name.substr(file_name.size() - k_suffix.size()) != k_suffix) {
            continue;
        }
        // A file whose name the rule refuses is not one the agent would ever use.
        const std::string_view name =
            std::string_view(file_name).substr(0, file_name.size() - k_suffix.size());
        if (check_credentials_name(name).ok()) {
            names.emplace_back(name);
        }
    }
    if (error) {
        return failure("cannot list " + dir + ": " + error.message());
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
        auto inspected = inspect_credentials_file(root, name, *dir_problem);
        if (!inspected) {
            return inspected.error();
        }
        // Removed between readdir and lstat: it is simply no longer there.
        if (inspected->found) {
            files.push_back(std::move(inspected->file));
        }
    }
    return files;
}

bool credentials_hold(const Root& root, std::string_view name, std::string_view username,
                      std::string_view key) {
    std::string expected = render_credentials(username, key);
    ScopeGuard wipe([&] { wipe_bytes(expected.data(), expected.size()); });
    // One byte more than expected, so a longer file does not compare equal by its prefix.
    auto current = read_secure_file(root, name, expected.size() + 1);
    return current && current->bytes.view() == expected;
}

Result<StoredCredentials> read_credentials(const Root& root, std::string_view name) {
    auto file = read_secure_file(root, name, k_max_file);
    if (!file) {
        return file.error();
    }
    const std::string refusing = "refusing to use " + credentials_path(name) + ": ";
    const std::string fix = "; store the key again with " + credentials_set_command(name);
    std::optional<std::string> username;
    std::optional<std::string_view> key;
    std::string_view rest = file->bytes.view();
    for (size_t number = 1; !rest.empty(); ++number) {
        const size_t end = rest.find('\n');
        const std::string_view line = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
        const std::string where = "line " + std::to_string(number);
        if (line.empty()) {
            continue;
        }
        if (line.starts_with(k_username_label) && !username) {
            username = std::string(line.substr(k_username_label.size()));
            // Never echoed: a mistyped file may hold the key on this line.
            if (auto checked = check_name_like("user name", *username); !checked) {
                return failure(refusing + where + ": the user name breaks the rules for names" +
                               fix);
            }
        } else if (line.starts_with(k_password_label) && !key) {
            key = line.substr(k_password_label.size());
            if (auto checked = check_storage_key(*key); !checked) {
                return failure(refusing + where + ": " + checked.error().message + fix);
            }
        } else {
            // Never the line itself: it may be the key, mistyped.
            return failure(refusing + where +
                           " is neither the username= nor the password= line (each is there once)" +
                           fix);
        }
    }
    if (!username || !key) {
        return failure(refusing + "it has no " + std::string(username ? "password=" : "username=") +
                       " line" + fix);
    }
    StoredCredentials stored{std::move(*username), SecretBytes(key->size())};
    stored.key.append(*key);
    return stored;
}

}  // namespace dsvm::mount
