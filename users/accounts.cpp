#include "users/accounts.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <limits>
#include <memory>
#include <random>
#include <tuple>

#include "common/fd.h"
#include "common/fs.h"
#include "common/safe_open.h"
#include "common/text.h"
#include "users/rules.h"

namespace dsvm::users {

namespace {

constexpr std::size_t k_passwd_fields = 7;
constexpr std::size_t k_group_fields = 4;
constexpr std::size_t k_shadow_fields = 9;
constexpr std::string_view k_locked_expire = "1";

std::string join(const std::vector<std::string_view>& parts, char separator) {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i > 0) {
            out.push_back(separator);
        }
        out.append(parts[i]);
    }
    return out;
}

std::optional<std::uint32_t> parse_id(std::string_view text) {
    std::uint64_t value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9' || text.size() > 10) {
            return std::nullopt;
        }
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (text.empty() || value > std::numeric_limits<std::uint32_t>::max()) {
        return std::nullopt;
    }
    return static_cast<std::uint32_t>(value);
}

// Comments and NIS compat entries ("+", "-") are not local accounts; nothing keys on them.
bool is_entry(std::string_view line) {
    return !line.empty() && line[0] != '#' && line[0] != '+' && line[0] != '-';
}

// The entry's fields if it has exactly `count` of them; empty for anything else.
std::vector<std::string_view> fields_of(std::string_view line, std::size_t count) {
    auto fields = split(line, ':');
    return is_entry(line) && fields.size() == count ? fields : std::vector<std::string_view>{};
}

std::vector<std::string_view> split_members(std::string_view field) {
    auto members = split(field, ',');
    members.erase(std::remove(members.begin(), members.end(), ""), members.end());
    return members;
}

// One account file as its lines, so a pass rewrites only the lines it changes. The index holds
// the first entry of each name whatever its shape: a malformed "bob" line still makes "bob"
// taken, and lookups find the line getpwnam(3) would find.
struct Table {
    std::vector<std::string> lines;
    std::vector<bool> removed;  // by line; a removed line is not rendered
    bool final_newline = true;
    std::unordered_map<std::string, std::size_t> by_key;

    Table(std::string_view text, std::size_t extra)
        : final_newline(text.empty() || text.back() == '\n') {
        lines.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + extra);
        by_key.reserve(lines.capacity());
        if (!text.empty()) {
            for (const auto line :
                 split(final_newline ? text.substr(0, text.size() - 1) : text, '\n')) {
                lines.emplace_back(line);
            }
        }
        for (std::size_t i = 0; i < lines.size(); ++i) {
            if (is_entry(lines[i])) {
                by_key.emplace(lines[i].substr(0, lines[i].find(':')), i);
            }
        }
        removed.assign(lines.size(), false);
    }
    const std::string* find(std::string_view key) const {
        const auto found = by_key.find(std::string(key));
        return found == by_key.end() ? nullptr : &lines[found->second];
    }
    // The fields of the entry for `key` if it has exactly `count`; empty for anything else.
    std::vector<std::string_view> fields(std::string_view key, std::size_t count) const {
        const std::string* line = find(key);
        return line != nullptr ? fields_of(*line, count) : std::vector<std::string_view>{};
    }
    void append(std::string line) {
        // Appended lines end in a newline, and so does a last line that had none.
        final_newline = true;
        by_key.emplace(line.substr(0, line.find(':')), lines.size());
        lines.push_back(std::move(line));
        removed.push_back(false);
    }
    // Drops the entry for `key` (the first one, as lookups see it); false when there is none.
    bool remove(std::string_view key) {
        const auto found = by_key.find(std::string(key));
        if (found == by_key.end()) {
            return false;
        }
        removed[found->second] = true;
        by_key.erase(found);
        return true;
    }
    void replace(std::string_view key, const std::vector<std::string_view>& fields) {
        lines[by_key.at(std::string(key))] = join(fields, ':');
    }
    std::string render() const {
        std::string out;
        std::size_t size = 0;
        std::size_t last = lines.size();
        for (std::size_t i = 0; i < lines.size(); ++i) {
            if (!removed[i]) {
                size += lines[i].size() + 1;
                last = i;
            }
        }
        out.reserve(size);
        for (std::size_t i = 0; i < lines.size(); ++i) {
            if (removed[i]) {
                continue;
            }
            out += lines[i];
            if (i != last || final_newline) {
                out.push_back('\n');
            }
        }
        return out;
    }
};

struct Database {
    Table passwd, group, shadow, gshadow;
    std::unordered_map<std::uint32_t, std::string> uid_owner, gid_owner;

    // `extra`: room for the lines a pass may append, so its indexes never rehash.
    Database(const AccountFiles& files, std::size_t extra)
        : passwd(files.passwd, extra),
          group(files.group, extra),
          shadow(files.shadow, extra),
          gshadow(files.gshadow, extra) {
        index_ids(passwd, uid_owner);
        index_ids(group, gid_owner);
    }
    // Any entry with a readable third field takes its id, malformed or not: a clash is refused
    // rather than guessed about.
    static void index_ids(const Table& table, std::unordered_map<std::uint32_t, std::string>& ids) {
        ids.reserve(table.by_key.bucket_count());
        for (const auto& line : table.lines) {
            const auto fields = split(line, ':');
            if (const auto id = fields.size() >= 3 ? parse_id(fields[2]) : std::nullopt;
                id && is_entry(line)) {
                ids.emplace(*id, std::string(fields[0]));
            }
        }
    }
};

// A ':' would shift every later field and a newline would start a new entry.
Result<void> check_field(std::string_view what, std::string_view value, bool path) {
    if (path && (value.empty() || value.front() != '/')) {
        return invalid(std::string(what) + " " + quoted(value) + " must be an absolute path");
    }
    for (const char c : value) {
        if (c == ':' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            return invalid(std::string(what) + " " + quoted(value) +
                           " may not contain ':' or control characters");
        }
    }
    return {};
}

Result<void> create(Database& db, const CreateAccount& change, long days) {
    for (auto checked : {check_user_name(change.name), check_field("home", change.home, true),
                         check_field("shell", change.shell, true),
                         check_field("password hash", change.password_hash, false)}) {
        if (!checked) {
            return checked;
        }
    }
    const auto who = [&] { return "cannot create user " + quoted(change.name) + ": "; };
    constexpr auto k_no_id = std::numeric_limits<std::uint32_t>::max();
    if (change.uid == 0 || change.gid == 0 || change.uid == k_no_id || change.gid == k_no_id) {
        return invalid(who() + "uid and gid may not be 0 (root) or 4294967295 (-1)");
    }
    // shadow and gshadow count too: a stale entry left there would be read before ours.
    for (const auto& [table, path] : {std::pair{&db.passwd, "/etc/passwd"},
                                      {&db.group, "/etc/group"},
                                      {&db.shadow, "/etc/shadow"},
                                      {&db.gshadow, "/etc/gshadow"}}) {
        if (table->find(change.name) != nullptr) {
            return invalid(who() + "the name already exists in " + path);
        }
    }
    for (const auto& [ids, id, what] :
         {std::tuple{&db.uid_owner, change.uid, "uid "}, {&db.gid_owner, change.gid, "gid "}}) {
        if (const auto owner = ids->find(id); owner != ids->end()) {
            return invalid(who() + what + std::to_string(id) + " already belongs to " +
                           quoted(owner->second));
        }
    }
    const std::string gid = std::to_string(change.gid);
    db.group.append(change.name + ":x:" + gid + ":");
    db.passwd.append(change.name + ":x:" + std::to_string(change.uid) + ":" + gid + ":" +
                     std::string(k_managed_gecos) + ":" + change.home + ":" + change.shell);
    db.shadow.append(change.name + ":" +
                     (change.password_hash.empty() ? "!" : change.password_hash) + ":" +
                     std::to_string(days) + ":0:99999:7:::");
    db.gshadow.append(change.name + ":!::");
    db.uid_owner.emplace(change.uid, change.name);
    db.gid_owner.emplace(change.gid, change.name);
    return {};
}

Result<void> create_system_group(Database& db, const CreateSystemGroup& change) {
    if (db.group.find(change.name) != nullptr) {
        return {};
    }
    constexpr std::uint32_t k_highest = 999;
    constexpr std::uint32_t k_lowest = 100;
    for (std::uint32_t gid = k_highest; gid >= k_lowest; --gid) {
        if (db.gid_owner.count(gid) == 0) {
            db.group.append(change.name + ":x:" + std::to_string(gid) + ":");
            if (db.gshadow.find(change.name) == nullptr) {
                db.gshadow.append(change.name + ":!::");
            }
            db.gid_owner.emplace(gid, change.name);
            return {};
        }
    }
    return failure("cannot create group " + quoted(change.name) +
                   ": no free system gid between 100 and 999");
}

Result<void> require_managed(const Database& db, std::string_view name) {
    if (db.passwd.find(name) == nullptr) {
        return invalid("user " + quoted(name) + " does not exist in /etc/passwd");
    }
    const auto fields = db.passwd.fields(name, k_passwd_fields);
    if (fields.empty() || !is_managed_gecos(fields[4])) {
        return invalid("user " + quoted(name) +
                       " is not managed by dsvm-agent; it is left as it is");
    }
    return {};
}

// Runs `edit` on a managed user's shadow password and expire fields; the line is rewritten only
// if one of them changed.
template <class Edit>
Result<void> edit_shadow(Database& db, std::string_view name, Edit edit) {
    if (auto managed = require_managed(db, name); !managed) {
        return managed;
    }
    auto fields = db.shadow.fields(name, k_shadow_fields);
    if (fields.empty()) {
        return failure("user " + quoted(name) +
                       " has no well-formed entry in /etc/shadow; it is left as it is");
    }
    std::string password(fields[1]);
    std::string expire(fields[7]);
    edit(password, expire);
    if (password != fields[1] || expire != fields[7]) {
        fields[1] = password;
        fields[7] = expire;
        db.shadow.replace(name, fields);
    }
    return {};
}

Result<void> set_password(Database& db, const SetPasswordHash& change) {
    if (auto checked = check_field("password hash", change.hash, false); !checked) {
        return checked;
    }
    return edit_shadow(db, change.name, [&](std::string& password, std::string& expire) {
        password = change.hash.empty() ? "!" : change.hash;
        // A new hash does not lift a lock; only UnlockAccount does.
        if (expire == k_locked_expire && password.front() != '!') {
            password.insert(0, "!");
        }
    });
}

Result<void> lock(Database& db, const LockAccount& change) {
    return edit_shadow(db, change.name, [](std::string& password, std::string& expire) {
        // The hash goes, not just behind a "!": a later unlock must not bring it back.
        password = "!";
        expire = k_locked_expire;
    });
}

Result<void> unlock(Database& db, const UnlockAccount& change) {
    if (auto checked = check_field("password hash", change.hash, false); !checked) {
        return checked;
    }
    return edit_shadow(db, change.name, [&](std::string& password, std::string& expire) {
        // "!" rather than empty: an empty password field lets anyone in without one (pam_unix
        // nullok), which is why usermod -U refuses it too.
        password = change.hash.empty() ? "!" : change.hash;
        expire.clear();
    });
}

// Makes `user` a member of group `name` in `table` or not; false without a well-formed entry.
bool set_membership(Table& table, std::string_view name, std::string_view user, bool member) {
    auto fields = table.fields(name, k_group_fields);
    if (fields.empty()) {
        return false;
    }
    auto members = split_members(fields[3]);
    if ((std::find(members.begin(), members.end(), user) != members.end()) != member) {
        if (member) {
            members.push_back(user);
        } else {
            members.erase(std::remove(members.begin(), members.end(), user), members.end());
        }
        const std::string joined = join(members, ',');
        fields[3] = joined;
        table.replace(name, fields);
    }
    return true;
}

Result<void> set_groups(Database& db, const SetSupplementaryGroups& change) {
    if (auto managed = require_managed(db, change.user); !managed) {
        return managed;
    }
    std::string errors;
    for (const auto& group : change.managed_groups) {
        const auto& wanted = change.wanted;
        const bool member = std::find(wanted.begin(), wanted.end(), group) != wanted.end();
        if (set_membership(db.group, group, change.user, member)) {
            // Not every group has a gshadow entry; group is what NSS reads.
            set_membership(db.gshadow, group, change.user, member);
        } else if (member) {
            errors += (errors.empty() ? "group " : "; group ") + quoted(group) +
                      (db.group.find(group) != nullptr ? " has a malformed entry in /etc/group"
                                                       : " does not exist on this instance");
        }
    }
    return errors.empty() ? Result<void>() : invalid(errors);
}

// Drops `user` from the member list of every entry in `table`.
void drop_member_everywhere(Table& table, std::string_view user) {
    for (std::size_t i = 0; i < table.lines.size(); ++i) {
        if (table.removed[i]) {
            continue;
        }
        auto fields = fields_of(table.lines[i], k_group_fields);
        if (fields.empty()) {
            continue;
        }
        auto members = split_members(fields[3]);
        const auto before = members.size();
        members.erase(std::remove(members.begin(), members.end(), user), members.end());
        if (members.size() != before) {
            const std::string joined = join(members, ',');
            fields[3] = joined;
            table.lines[i] = join(fields, ':');
        }
    }
}

Result<void> remove_partial(Database& db, const RemovePartialAccount& change) {
    if (db.passwd.find(change.name) != nullptr) {
        return invalid("user " + quoted(change.name) +
                       " exists in /etc/passwd, so its creation was not interrupted; it is left "
                       "as it is");
    }
    const auto group = db.group.fields(change.name, k_group_fields);
    if (!group.empty() && parse_id(group[2]) == change.gid) {
        db.group.remove(change.name);
        db.gid_owner.erase(change.gid);
    }
    db.gshadow.remove(change.name);
    db.shadow.remove(change.name);
    drop_member_everywhere(db.group, change.name);
    drop_member_everywhere(db.gshadow, change.name);
    return {};
}

template <class... Ts>
struct Overloaded : Ts... {
    using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

template <class Map, class Key, class Item>
const Item* lookup(const Map& map, const Key& key, const std::vector<Item>& items) {
    const auto found = map.find(key);
    return found == map.end() ? nullptr : &items[found->second];
}

}  // namespace

AccountView AccountView::parse(const AccountFiles& files) {
    AccountView view;
    for (const auto line : split(files.passwd, '\n')) {
        const auto fields = fields_of(line, k_passwd_fields);
        const auto uid = fields.empty() ? std::nullopt : parse_id(fields[2]);
        const auto gid = fields.empty() ? std::nullopt : parse_id(fields[3]);
        if (uid && gid) {
            UserRecord& user = view.m_users.emplace_back();
            user.name = fields[0];
            user.uid = *uid;
            user.gid = *gid;
            user.gecos = fields[4];
            user.home = fields[5];
            user.shell = fields[6];
            view.m_user_by_name.emplace(user.name, view.m_users.size() - 1);
            view.m_user_by_uid.emplace(user.uid, view.m_users.size() - 1);
        }
    }
    for (const auto line : split(files.group, '\n')) {
        const auto fields = fields_of(line, k_group_fields);
        if (const auto gid = fields.empty() ? std::nullopt : parse_id(fields[2])) {
            GroupRecord& group = view.m_groups.emplace_back();
            group.name = fields[0];
            group.gid = *gid;
            for (const auto member : split_members(fields[3])) {
                group.members.emplace_back(member);
            }
            view.m_group_by_name.emplace(group.name, view.m_groups.size() - 1);
            view.m_group_by_gid.emplace(group.gid, view.m_groups.size() - 1);
        }
    }
    for (const auto line : split(files.shadow, '\n')) {
        if (const auto fields = fields_of(line, k_shadow_fields); !fields.empty()) {
            view.m_hashes.emplace(std::string(fields[0]), std::string(fields[1]));
            view.m_expire.emplace(std::string(fields[0]), std::string(fields[7]));
        }
    }
    for (const auto line : split(files.gshadow, '\n')) {
        if (const auto fields = fields_of(line, k_group_fields); !fields.empty()) {
            std::vector<std::string> members;
            for (const auto member : split_members(fields[3])) {
                members.emplace_back(member);
            }
            view.m_gshadow_members.emplace(std::string(fields[0]), std::move(members));
        }
    }
    return view;
}

const UserRecord* AccountView::user(std::string_view name) const {
    return lookup(m_user_by_name, std::string(name), m_users);
}
const UserRecord* AccountView::user_by_uid(std::uint32_t uid) const {
    return lookup(m_user_by_uid, uid, m_users);
}
const GroupRecord* AccountView::group(std::string_view name) const {
    return lookup(m_group_by_name, std::string(name), m_groups);
}
const GroupRecord* AccountView::group_by_gid(std::uint32_t gid) const {
    return lookup(m_group_by_gid, gid, m_groups);
}

std::optional<std::string> AccountView::password_hash(std::string_view name) const {
    const auto found = m_hashes.find(std::string(name));
    return found == m_hashes.end() ? std::nullopt : std::optional<std::string>(found->second);
}

bool is_managed_gecos(std::string_view gecos) {
    return gecos.substr(0, gecos.find(',')) == k_managed_gecos;
}

bool AccountView::is_locked(std::string_view name) const {
    const auto found = m_expire.find(std::string(name));
    return found != m_expire.end() && found->second == k_locked_expire;
}

const std::vector<std::string>* AccountView::gshadow_members(std::string_view group) const {
    const auto found = m_gshadow_members.find(std::string(group));
    return found == m_gshadow_members.end() ? nullptr : &found->second;
}

bool AccountView::is_marked_managed(std::string_view name) const {
    const UserRecord* record = user(name);
    return record != nullptr && is_managed_gecos(record->gecos);
}

AppliedAccounts apply_account_changes(const AccountFiles& current,
                                      const std::vector<AccountChange>& changes, Clock& clock) {
    Database db(current, changes.size());
    const long days = static_cast<long>(
        std::chrono::duration_cast<std::chrono::seconds>(clock.wall_now().time_since_epoch())
            .count() /
        86400);
    AppliedAccounts applied;
    for (const auto& change : changes) {
        const Result<void> result =
            std::visit(Overloaded{
                           [&](const CreateAccount& c) { return create(db, c, days); },
                           [&](const SetPasswordHash& c) { return set_password(db, c); },
                           [&](const LockAccount& c) { return lock(db, c); },
                           [&](const UnlockAccount& c) { return unlock(db, c); },
                           [&](const SetSupplementaryGroups& c) { return set_groups(db, c); },
                           [&](const CreateSystemGroup& c) { return create_system_group(db, c); },
                           [&](const RemovePartialAccount& c) { return remove_partial(db, c); },
                       },
                       change);
        ActionOutcome& outcome = applied.outcomes.emplace_back();
        outcome.action = describe(change);
        outcome.ok = result.ok();
        outcome.error = result.ok() ? std::string() : result.error().message;
    }
    applied.files.passwd = db.passwd.render();
    applied.files.group = db.group.render();
    applied.files.shadow = db.shadow.render();
    applied.files.gshadow = db.gshadow.render();
    return applied;
}

Result<AccountFiles> read_account_files(const Root& root) {
    AccountFiles files;
    // A system without shadow files is still a system; one without passwd or group is not.
    for (const auto& [text, path, required] : {std::tuple{&files.passwd, "/etc/passwd", true},
                                               {&files.group, "/etc/group", true},
                                               {&files.shadow, "/etc/shadow", false},
                                               {&files.gshadow, "/etc/gshadow", false}}) {
        auto read = read_file_if_exists(root.path(path));
        if (!read) {
            return read.error();
        }
        if (!read->found && required) {
            return failure("cannot open " + root.path(path) + ": " + errno_text(ENOENT));
        }
        *text = std::move(read->text);
    }
    return files;
}

namespace {

constexpr int k_directory_flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
constexpr int k_skel_depth = 16;

Error os_failure(std::string_view action, const std::string& path) {
    return failure("cannot " + std::string(action) + " " + path + ": " + errno_text(errno));
}

// lckpwdf(3) is an fcntl write lock on /etc/.pwd.lock, waited for up to 15 s; taking the same
// lock makes useradd, passwd, vipw and us wait for each other instead of losing updates.
Result<Fd> lock_account_files(const Root& root, Clock& clock) {
    const std::string path = root.path("/etc/.pwd.lock");
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) {
        return os_failure("open", path);
    }
    struct flock request {};
    request.l_type = F_WRLCK;
    request.l_whence = SEEK_SET;
    const auto deadline = clock.now() + std::chrono::seconds(15);
    while (::fcntl(fd.get(), F_SETLK, &request) != 0) {
        if (errno != EACCES && errno != EAGAIN && errno != EINTR) {
            return os_failure("lock", path);
        }
        if (clock.now() >= deadline) {
            return failure(path + " stayed locked by another program (useradd, passwd, vipw?) " +
                           "for 15 s; the account files were not changed");
        }
        clock.sleep_for(std::chrono::milliseconds(10));
    }
    return fd;
}

struct FileOwner {
    mode_t mode = 0644;
    uid_t uid = 0;
    gid_t gid = 0;
};

// The owner and mode set before the rename: a shadow file must never be visible, even for a
// moment, with an owner or group that could read it.
Result<void> replace_file(const std::string& path, std::string_view content, FileOwner owner) {
    ReplaceOptions options;
    options.mode = owner.mode;
    options.uid = owner.uid;
    options.gid = owner.gid;
    // shadow-utils' own name for the new copy ("passwd+"): written under the lckpwdf lock, and
    // one a killed writer left behind is simply replaced by the next.
    options.temporary = path.substr(path.rfind('/') + 1) + "+";
    return dsvm::replace_file(path, content, options);
}

// Replaces one account file keeping its mode and owner and, as shadow-utils does, the previous
// version as "<file>-"; a missing file is created as `fresh` says.
Result<void> update_account_file(const std::string& path, std::string_view before,
                                 std::string_view after, FileOwner fresh) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) == 0) {
        if (!S_ISREG(info.st_mode)) {
            return failure(path + " is not a regular file; it is left as it is");
        }
        fresh.mode = info.st_mode & 07777;
        fresh.uid = info.st_uid;
        fresh.gid = info.st_gid;
        if (auto backup = replace_file(path + "-", before, fresh); !backup) {
            return backup;
        }
    } else if (errno != ENOENT) {
        return os_failure("stat", path);
    }
    return replace_file(path, after, fresh);
}

}  // namespace

Result<std::vector<ActionOutcome>> commit_account_changes(const Root& root,
                                                          const std::vector<AccountChange>& changes,
                                                          Clock& clock) {
    auto lock = lock_account_files(root, clock);
    if (!lock) {
        return lock.error();
    }
    auto current = read_account_files(root);
    if (!current) {
        return current.error();
    }
    AppliedAccounts applied = apply_account_changes(*current, changes, clock);
    const AccountView view = AccountView::parse(applied.files);
    const GroupRecord* shadow_group = view.group("shadow");
    FileOwner secret;
    secret.mode = shadow_group != nullptr ? 0640 : 0600;
    secret.gid = shadow_group != nullptr ? shadow_group->gid : 0;
    // Groups before users and shadow before passwd, so an interrupted pass never leaves a passwd
    // entry without its group or its password entry.
    for (const auto& [path, before, after, fresh] :
         {std::tuple{"/etc/group", &current->group, &applied.files.group, FileOwner()},
          {"/etc/gshadow", &current->gshadow, &applied.files.gshadow, secret},
          {"/etc/shadow", &current->shadow, &applied.files.shadow, secret},
          {"/etc/passwd", &current->passwd, &applied.files.passwd, FileOwner()}}) {
        if (*before == *after) {
            continue;
        }
        if (auto updated = update_account_file(root.path(path), *before, *after, fresh); !updated) {
            return updated.error();
        }
    }
    return std::move(applied.outcomes);
}

namespace {

// Opens root/parts..., one O_NOFOLLOW component at a time so a symlink anywhere is refused,
// never followed; with `make`, missing directories are created 0755. Without `make`, a missing
// component gives an empty Fd.
Result<Fd> open_path(const Root& root, const std::vector<std::string>& parts, bool make) {
    Fd fd(::open(root.dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    std::string shown = root.dir() == "/" ? "" : root.dir();
    if (!fd) {
        return os_failure("open", root.dir());
    }
    for (const auto& part : parts) {
        shown += "/" + part;
        const bool made = make && ::mkdirat(fd.get(), part.c_str(), 0755) == 0;
        Fd next(::openat(fd.get(), part.c_str(), k_directory_flags));
        if (!next && errno == ENOENT && !make) {
            return Fd();
        }
        if (!next || (made && ::fchmod(next.get(), 0755) != 0)) {
            return os_failure("open", shown);
        }
        fd = std::move(next);
    }
    return fd;
}

Result<void> copy_file(int source, int target, const std::string& shown) {
    char buffer[65536];
    for (;;) {
        const ssize_t got = ::read(source, buffer, sizeof buffer);
        if (got == 0) {
            return {};
        }
        if (got < 0 && errno != EINTR) {
            return os_failure("read", shown);
        }
        const std::size_t size = got < 0 ? 0 : static_cast<std::size_t>(got);
        if (auto written = write_all(target, std::string_view(buffer, size), shown); !written) {
            return written;
        }
    }
}

// Copies the skeleton's regular files, directories and symlinks (as symlinks), owned by
// uid:gid with the skeleton's permission bits. Every name is made with O_EXCL, mkdirat or
// symlinkat and opened with O_NOFOLLOW, so nothing planted in the way is followed.
Result<void> copy_tree(int source, int target, uid_t uid, gid_t gid, const std::string& shown,
                       int depth) {
    if (depth > k_skel_depth) {
        return failure("cannot copy " + shown + ": the skeleton is nested too deeply");
    }
    Fd listing_fd(::dup(source));
    std::unique_ptr<DIR, int (*)(DIR*)> listing(
        listing_fd ? ::fdopendir(listing_fd.get()) : nullptr, ::closedir);
    if (!listing) {
        return os_failure("list", shown);
    }
    listing_fd.release();
    while (const dirent* entry = ::readdir(listing.get())) {
        const std::string name = entry->d_name;
        const std::string path = shown + "/" + name;
        struct stat info {};
        if (name == "." || name == "..") {
            continue;
        }
        if (::fstatat(source, name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
            return os_failure("stat", path);
        }
        if (S_ISLNK(info.st_mode)) {
            std::string link(static_cast<std::size_t>(info.st_size) + 1, '\0');
            const ssize_t size = ::readlinkat(source, name.c_str(), link.data(), link.size());
            link.resize(size < 0 ? link.size() : static_cast<std::size_t>(size));
            if (link.size() > static_cast<std::size_t>(info.st_size) ||
                ::symlinkat(link.c_str(), target, name.c_str()) != 0 ||
                ::fchownat(target, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
                return os_failure("copy the link", path);
            }
            continue;
        }
        const bool directory = S_ISDIR(info.st_mode);
        if (!directory && !S_ISREG(info.st_mode)) {
            continue;  // devices, fifos and sockets have no place in a home
        }
        if (directory && ::mkdirat(target, name.c_str(), 0700) != 0) {
            return os_failure("create directory", path);
        }
        Fd from(::openat(source, name.c_str(),
                         directory ? k_directory_flags : O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        Fd to(directory ? ::openat(target, name.c_str(), k_directory_flags)
                        : ::openat(target, name.c_str(),
                                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!from || !to) {
            return os_failure("copy", path);
        }
        auto copied = directory ? copy_tree(from.get(), to.get(), uid, gid, path, depth + 1)
                                : copy_file(from.get(), to.get(), path);
        if (!copied) {
            return copied;
        }
        if (::fchown(to.get(), uid, gid) != 0 || ::fchmod(to.get(), info.st_mode & 0777) != 0) {
            return os_failure("set the owner and mode of", path);
        }
    }
    return {};
}

}  // namespace

std::string account_files_stamp(const Root& root) {
    std::string out;
    for (const char* file : {"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"}) {
        struct stat info {};
        out += "|";
        out += ::stat(root.path(file).c_str(), &info) != 0
                   ? std::string("-")
                   : std::to_string(info.st_ino) + ":" + std::to_string(info.st_size) + ":" +
                         std::to_string(info.st_mtim.tv_sec) + "." +
                         std::to_string(info.st_mtim.tv_nsec);
    }
    return out;
}

bool home_missing(const Root& root, std::string_view home) {
    return !path_exists(root.path(home));
}

Result<bool> create_home(const Root& root, std::string_view home, uid_t uid, gid_t gid) {
    std::vector<std::string> parts;
    for (const auto part : split(home, '/')) {
        if (part == "." || part == "..") {
            parts.clear();
            break;
        }
        if (!part.empty()) {
            parts.emplace_back(part);
        }
    }
    if (parts.empty() || !check_field("home", home, true)) {
        return invalid("home " + quoted(home) +
                       " must be an absolute path without '.', '..', ':' or control characters");
    }
    const std::string name = parts.back();
    parts.pop_back();
    auto parent = open_path(root, parts, true);
    if (!parent) {
        return parent.error();
    }
    const std::string shown = root.path(home);
    struct stat existing {};
    if (::fstatat(parent->get(), name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0) {
        return false;  // whatever is there (a planted symlink included) is not ours to touch
    }
    // Built under a name of our own and renamed into place complete: a pass killed half way
    // leaves only this, which the next one removes and builds again.
    const std::string building = ".dsvm-agent-home." + name;
    const std::string building_shown = shown.substr(0, shown.rfind('/') + 1) + building;
    if (auto removed = remove_tree_at(parent->get(), building, building_shown); !removed) {
        return removed.error();
    }
    if (::mkdirat(parent->get(), building.c_str(), 0700) != 0) {
        return os_failure("create directory", building_shown);
    }
    Fd home_fd(::openat(parent->get(), building.c_str(), k_directory_flags));
    if (!home_fd || ::fchmod(home_fd.get(), 0700) != 0) {
        return os_failure("open", building_shown);
    }
    auto skel = open_path(root, {"etc", "skel"}, false);
    if (!skel) {
        return skel.error();
    }
    if (*skel) {
        if (auto copied = copy_tree(skel->get(), home_fd.get(), uid, gid, shown, 0); !copied) {
            return copied.error();
        }
    }
    if (::fchown(home_fd.get(), uid, gid) != 0) {
        return os_failure("set the owner of", building_shown);
    }
    // NOREPLACE: a home that appeared meanwhile (even an empty directory) is never replaced.
    if (rename_no_replace(parent->get(), building, name) != 0) {
        const int error = errno;
        if (error == EEXIST) {
            (void)remove_tree_at(parent->get(), building, building_shown);
            return false;
        }
        errno = error;
        return os_failure("rename " + building_shown + " to", shown);
    }
    return true;
}

}  // namespace dsvm::users
