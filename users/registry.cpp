#include "users/registry.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <type_traits>

#include "common/fd.h"
#include "common/file_lock.h"
#include "common/fs.h"
#include "common/text.h"
#include "users/names.h"

namespace dsvm {

namespace {

using nlohmann::json;

constexpr int k_version = 1;
constexpr char k_directory[] = ".dsvm-agent";
constexpr char k_registry_file[] = "registry.json";
constexpr char k_lock_file[] = "registry.lock";
// The generation alone, so a pass can tell "nothing changed" without reading the registry.
constexpr char k_generation_file[] = "generation";
constexpr auto k_lock_wait = std::chrono::seconds(30);

// A JSON value as it may appear in a message: invalid UTF-8 cannot make dump() throw, and
// control characters or a huge value cannot reach a log line as they are.
std::string shown(const json& value) {
    return printable(value.dump(-1, ' ', false, json::error_handler_t::replace));
}

Result<std::uint64_t> unsigned_field(const json& value, const std::string& field,
                                     std::uint64_t maximum) {
    const bool non_negative_integer =
        value.is_number_unsigned() || (value.is_number_integer() && value.get<std::int64_t>() >= 0);
    if (!non_negative_integer || value.get<std::uint64_t>() > maximum) {
        return failure(field + " must be an integer from 0 to " + std::to_string(maximum) +
                       ", not " + shown(value));
    }
    return value.get<std::uint64_t>();
}

// An optional field keeps its default when absent; when present it must have the right type.
template <class T>
Result<void> read_optional(const json& entry, const char* key, const std::string& where, T& out) {
    const auto found = entry.find(key);
    if (found == entry.end()) {
        return {};
    }
    bool right_type = false;
    std::string expected;
    if constexpr (std::is_same_v<T, bool>) {
        right_type = found->is_boolean();
        expected = "true or false";
    } else if constexpr (std::is_same_v<T, std::string>) {
        right_type = found->is_string();
        expected = "a string";
    } else {
        right_type =
            found->is_array() && std::all_of(found->begin(), found->end(),
                                             [](const json& item) { return item.is_string(); });
        expected = "a list of strings";
    }
    if (!right_type) {
        return failure(where + "." + key + " must be " + expected + ", not " + shown(*found));
    }
    out = found->template get<T>();
    return {};
}

Result<RegistryUser> parse_user(const json& entry, std::size_t index) {
    std::string where = "users[" + std::to_string(index) + "]";
    if (!entry.is_object()) {
        return failure(where + " must be an object, not " + shown(entry));
    }
    RegistryUser user;
    const auto name = entry.find("name");
    if (name == entry.end()) {
        return failure(where + ".name is missing");
    }
    if (!name->is_string()) {
        return failure(where + ".name must be a string, not " + shown(*name));
    }
    user.name = name->get<std::string>();
    where += " ('" + printable(user.name) + "')";

    constexpr std::uint64_t k_id_max = std::numeric_limits<std::uint32_t>::max();
    const auto uid = entry.find("uid");
    if (uid == entry.end()) {
        return failure(where + ".uid is missing");
    }
    auto uid_value = unsigned_field(*uid, where + ".uid", k_id_max);
    if (!uid_value) {
        return uid_value.error();
    }
    user.uid = static_cast<std::uint32_t>(*uid_value);
    // gid == uid is the only value check_registry accepts, so an entry written without one
    // means exactly that.
    user.gid = user.uid;
    if (const auto gid = entry.find("gid"); gid != entry.end()) {
        auto gid_value = unsigned_field(*gid, where + ".gid", k_id_max);
        if (!gid_value) {
            return gid_value.error();
        }
        user.gid = static_cast<std::uint32_t>(*gid_value);
    }

    for (auto field : {read_optional(entry, "sudo", where, user.sudo),
                       read_optional(entry, "groups", where, user.groups),
                       read_optional(entry, "sshKeys", where, user.ssh_keys),
                       read_optional(entry, "passwordHash", where, user.password_hash),
                       read_optional(entry, "deleted", where, user.deleted)}) {
        if (!field) {
            return field.error();
        }
    }
    return user;
}

void sort_users(std::vector<RegistryUser>& users) {
    std::stable_sort(users.begin(), users.end(),
                     [](const auto& a, const auto& b) { return a.name < b.name; });
}

// registry.json is opened without following a symlink and must be a regular file: root works
// here, and the directory may have been someone else's before update() took it back.
Result<Registry> load_registry(int directory_fd, const std::string& path) {
    auto read = read_file_at(directory_fd, k_registry_file, path, O_NOFOLLOW | O_NONBLOCK);
    if (!read) {
        return read.error();
    }
    if (!read->found) {
        return Registry{};
    }
    const std::string& text = read->text;
    auto registry = parse_registry(text);
    if (!registry) {
        return with_context(path, registry.error());
    }
    return registry;
}

Error not_root_only(const std::string& path, const std::string& why) {
    return failure(path + " on the share cannot be made root-only (" + why +
                   "); if the share is an NFS export with root_squash, export it with "
                   "no_root_squash for the pool's instances");
}

// Creates <share>/.dsvm-agent if needed and makes sure only we (root, in production) own and
// can enter it. Works on a descriptor opened without following symlinks, so a link planted in
// place of the directory is refused rather than followed.
Result<Fd> open_private_directory(const std::string& path) {
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
        const int error = errno;
        if (error == EACCES || error == EPERM) {
            return not_root_only(path, "cannot create it: " + errno_text(error));
        }
        return failure("cannot create directory " + path + ": " + errno_text(error));
    }
    Fd directory(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!directory) {
        const int error = errno;
        if (error == ENOTDIR || error == ELOOP) {
            return failure("cannot open " + path + ": it exists and is not a directory");
        }
        if (error == EACCES || error == EPERM) {
            return not_root_only(path, "cannot open it: " + errno_text(error));
        }
        return failure("cannot open " + path + ": " + errno_text(error));
    }
    struct stat info {};
    if (::fstat(directory.get(), &info) != 0) {
        return failure("cannot stat " + path + ": " + errno_text(errno));
    }
    // The effective ids are root's in production; using them keeps the store usable (and
    // testable) by an unprivileged user on a directory of their own.
    const uid_t owner = ::geteuid();
    const gid_t group = ::getegid();
    // Ownership first: while someone else still owns the directory they could undo a chmod.
    if ((info.st_uid != owner || info.st_gid != group) &&
        ::fchown(directory.get(), owner, group) != 0) {
        return not_root_only(path, "chown to " + std::to_string(owner) + ":" +
                                       std::to_string(group) + " failed: " + errno_text(errno));
    }
    // mkdir's mode is narrowed by the umask, and an existing directory may be open to others.
    if ((info.st_mode & 07777) != 0700 && ::fchmod(directory.get(), 0700) != 0) {
        return not_root_only(path, "chmod 0700 failed: " + errno_text(errno));
    }
    return directory;
}

// Called under the lock only, which is why a fixed temporary name per process is enough; one
// found already there was left by a writer that died with our pid (pids repeat across the
// pool's instances).
Result<void> replace_file(int directory_fd, const std::string& directory_path, const char* name,
                          std::string_view content) {
    ReplaceOptions options;
    options.mode = 0600;
    options.temporary = std::string(name) + ".tmp." + std::to_string(::getpid());
    return replace_file_at(directory_fd, name, content, options, directory_path);
}

}  // namespace

Result<Registry> parse_registry(std::string_view text) {
    const json document = json::parse(text, nullptr, false);
    if (document.is_discarded()) {
        return failure("the registry is not valid JSON");
    }
    if (!document.is_object()) {
        return failure("the registry must be a JSON object, not " + shown(document));
    }
    Registry registry;
    const auto version = document.find("version");
    if (version == document.end()) {
        return failure("version is missing");
    }
    if (!version->is_number_integer() || version->get<std::int64_t>() != k_version) {
        return failure("version " + shown(*version) +
                       " is not supported (this agent reads version " + std::to_string(k_version) +
                       ")");
    }
    const auto generation = document.find("generation");
    if (generation == document.end()) {
        return failure("generation is missing");
    }
    auto generation_value =
        unsigned_field(*generation, "generation", std::numeric_limits<std::uint64_t>::max());
    if (!generation_value) {
        return generation_value.error();
    }
    registry.generation = *generation_value;
    const auto users = document.find("users");
    if (users == document.end()) {
        return failure("users is missing");
    }
    if (!users->is_array()) {
        return failure("users must be a list, not " + shown(*users));
    }
    for (std::size_t index = 0; index < users->size(); ++index) {
        auto user = parse_user((*users)[index], index);
        if (!user) {
            return user.error();
        }
        registry.users.push_back(std::move(*user));
    }
    sort_users(registry.users);
    return registry;
}

std::string render_registry(const Registry& registry) {
    std::vector<RegistryUser> users = registry.users;
    sort_users(users);
    // ordered_json keeps the fields in the order written here, which reads best for a human.
    nlohmann::ordered_json document;
    document["version"] = registry.version;
    document["generation"] = registry.generation;
    document["users"] = nlohmann::ordered_json::array();
    for (const auto& user : users) {
        nlohmann::ordered_json entry;
        entry["name"] = user.name;
        entry["uid"] = user.uid;
        entry["gid"] = user.gid;
        entry["sudo"] = user.sudo;
        entry["groups"] = user.groups;
        entry["sshKeys"] = user.ssh_keys;
        entry["passwordHash"] = user.password_hash;
        entry["deleted"] = user.deleted;
        document["users"].push_back(std::move(entry));
    }
    // Invalid UTF-8 (which no valid entry holds) is replaced rather than thrown on.
    return document.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

CheckedRegistry check_registry(const Registry& registry, std::uint32_t uid_min,
                               std::uint32_t uid_max) {
    std::map<std::string, int> name_count;
    std::map<std::uint32_t, int> uid_count;
    for (const auto& user : registry.users) {
        ++name_count[user.name];
        ++uid_count[user.uid];
    }
    const std::string range = std::to_string(uid_min) + "-" + std::to_string(uid_max);
    CheckedRegistry checked;
    for (const auto& user : registry.users) {
        std::vector<std::string> reasons;
        if (auto name = check_user_name(user.name); !name) {
            reasons.push_back(name.error().message);
        }
        if (name_count[user.name] > 1) {
            reasons.push_back("the name is used by " + std::to_string(name_count[user.name]) +
                              " entries");
        }
        if (user.uid < uid_min || user.uid > uid_max) {
            reasons.push_back("uid " + std::to_string(user.uid) + " is outside the pool's range " +
                              range);
        }
        if (uid_count[user.uid] > 1) {
            reasons.push_back("uid " + std::to_string(user.uid) + " is used by " +
                              std::to_string(uid_count[user.uid]) + " entries");
        }
        if (user.gid != user.uid) {
            reasons.push_back("gid " + std::to_string(user.gid) + " differs from uid " +
                              std::to_string(user.uid));
        }
        // Hashes go into shadow's colon-separated lines; keys into authorized_keys lines.
        const bool bad_hash =
            std::any_of(user.password_hash.begin(), user.password_hash.end(), [](char c) {
                const auto byte = static_cast<unsigned char>(c);
                return c == ':' || byte < 0x20 || byte == 0x7f;
            });
        if (bad_hash) {
            reasons.push_back("passwordHash holds ':' or a control character");
        }
        const bool bad_key =
            std::any_of(user.ssh_keys.begin(), user.ssh_keys.end(), [](const std::string& key) {
                return key.find_first_of(std::string_view("\n\r\0", 3)) != std::string::npos;
            });
        if (bad_key) {
            reasons.push_back("an ssh key holds a line break");
        }
        if (reasons.empty()) {
            checked.valid.push_back(user);
            continue;
        }
        std::string message = "registry entry '" + printable(user.name) + "' rejected: ";
        for (std::size_t index = 0; index < reasons.size(); ++index) {
            message += (index == 0 ? "" : "; ") + reasons[index];
        }
        checked.rejected.push_back(std::move(message));
    }
    return checked;
}

Result<std::uint32_t> lowest_free_uid(const Registry& registry, std::uint32_t uid_min,
                                      std::uint32_t uid_max) {
    if (uid_min > uid_max) {
        return invalid("the uid range " + std::to_string(uid_min) + "-" + std::to_string(uid_max) +
                       " is empty");
    }
    std::vector<std::uint32_t> used;
    used.reserve(registry.users.size());
    for (const auto& user : registry.users) {
        used.push_back(user.uid);
    }
    std::sort(used.begin(), used.end());
    // 64 bits so that a range ending at 2^32-1 cannot wrap around.
    std::uint64_t candidate = uid_min;
    for (const std::uint32_t uid : used) {
        if (uid < candidate) {
            continue;
        }
        if (uid > candidate) {
            break;
        }
        ++candidate;
    }
    if (candidate > uid_max) {
        return failure("the pool's uid range " + std::to_string(uid_min) + "-" +
                       std::to_string(uid_max) +
                       " is full (deleted users keep their uids so they are never reused)");
    }
    return static_cast<std::uint32_t>(candidate);
}

Result<RegistryUser*> find_or_add_user(Registry& registry, const std::string& name,
                                       std::uint32_t uid_min, std::uint32_t uid_max) {
    for (auto& user : registry.users) {
        if (user.name == name) {
            return &user;
        }
    }
    auto uid = lowest_free_uid(registry, uid_min, uid_max);
    if (!uid) {
        return uid.error();
    }
    RegistryUser added;
    added.name = name;
    added.uid = *uid;
    added.gid = *uid;
    registry.users.push_back(std::move(added));
    return &registry.users.back();
}

RegistryStore::RegistryStore(std::string share_dir) : m_share_dir(std::move(share_dir)) {}

std::string RegistryStore::registry_path() const {
    return m_share_dir + "/" + k_directory + "/" + k_registry_file;
}

Result<Registry> RegistryStore::read() const {
    const std::string directory_path = m_share_dir + "/" + k_directory;
    Fd directory(::open(directory_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!directory) {
        if (errno == ENOENT) {
            return Registry{};
        }
        return failure("cannot open " + directory_path + ": " + errno_text(errno));
    }
    return load_registry(directory.get(), registry_path());
}

Result<Registry> RegistryStore::update(const std::function<Result<void>(Registry&)>& change) {
    const std::string directory_path = m_share_dir + "/" + k_directory;
    auto directory = open_private_directory(directory_path);
    if (!directory) {
        return directory.error();
    }
    // Held until `lock` goes out of scope: closing the descriptor releases it.
    auto lock =
        lock_file_at(directory->get(), k_lock_file, directory_path + "/" + k_lock_file, k_lock_wait,
                     "SMB mounted with 'nobrl', or NFS without a lock service");
    if (!lock) {
        return lock.error();
    }
    auto current = load_registry(directory->get(), registry_path());
    if (!current) {
        return current.error();
    }
    Registry changed = *current;
    if (auto changed_ok = change(changed); !changed_ok) {
        return changed_ok.error();
    }
    // The version and generation are the store's to set, and order is not content.
    changed.version = k_version;
    changed.generation = current->generation;
    sort_users(changed.users);
    if (changed == *current) {
        return changed;
    }
    ++changed.generation;
    if (auto written = replace_file(directory->get(), directory_path, k_registry_file,
                                    render_registry(changed));
        !written) {
        return written.error();
    }
    // Written second: whoever sees the new generation finds the new registry already there.
    if (auto written = replace_file(directory->get(), directory_path, k_generation_file,
                                    std::to_string(changed.generation) + "\n");
        !written) {
        return written.error();
    }
    return changed;
}

Result<std::string> RegistryStore::stamp() const {
    // The generation file, not the registry's inode and mtime: two writes within one clock tick
    // can leave a reused inode, the same size and the same mtime.
    const std::string generation_path = m_share_dir + "/" + k_directory + "/" + k_generation_file;
    auto generation = read_file_if_exists(generation_path);
    if (!generation) {
        return generation.error();
    }
    if (generation->found) {
        return "generation " + generation->text;
    }
    const std::string path = registry_path();
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
        if (errno == ENOENT) {
            return std::string();
        }
        return failure("cannot stat " + path + ": " + errno_text(errno));
    }
    const auto mtime_ns =
        static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec;
    return std::to_string(info.st_ino) + ":" + std::to_string(info.st_size) + ":" +
           std::to_string(mtime_ns);
}

}  // namespace dsvm
