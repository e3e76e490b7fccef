#include "users/registry_store.h"

#include <algorithm>
#include <chrono>

#include "common/fd.h"
#include "common/file_lock.h"
#include "common/fs.h"
#include "common/ids.h"
#include "common/safe_open.h"

namespace dsvm::users {

namespace {

constexpr char k_directory[] = ".dsvm-agent";
constexpr char k_registry_file[] = "registry.json";
constexpr char k_lock_file[] = "registry.lock";
// The generation alone, so a pass can tell "nothing changed" without reading the registry.
constexpr char k_generation_file[] = "generation";
constexpr auto k_lock_wait = std::chrono::seconds(30);
constexpr std::size_t k_max_generation_bytes = 32;

Error not_root_only(const std::string& path, const std::string& why) {
    return failure(path + " on the share cannot be made root-only (" + why +
                   "); if the share is an NFS export with root_squash, export it with "
                   "no_root_squash for the pool's instances");
}

// Opens .dsvm-agent without following a symlink. On a share with POSIX owners it must be ours
// and writable by nobody else: one that someone else made is refused, never taken over (what
// they left inside could be anything).
Result<Fd> open_directory(const RegistryShare& share, bool create) {
    const std::string path = share.dir + "/" + k_directory;
    if (create) {
        const auto made = make_directory(path, 0700);
        if (made.failure == DirectoryFailure::Denied) {
            return not_root_only(path, "cannot create it: " + made.error);
        }
        if (made.failure != DirectoryFailure::None) {
            return failure("cannot create directory " + path + ": " + made.error);
        }
    }
    auto opened = open_directory_nofollow(path);
    if (!opened.fd) {
        switch (opened.failure) {
            case DirectoryFailure::Missing:
                if (!create) {
                    return Fd();
                }
                break;
            case DirectoryFailure::NotDirectory:
                return failure("refusing " + path + ": it is a symlink or not a directory");
            case DirectoryFailure::Denied:
                return not_root_only(path, "cannot open it: " + opened.error);
            case DirectoryFailure::None:
            case DirectoryFailure::Other:
                break;
        }
        return failure("cannot open " + path + ": " + opened.error);
    }
    Fd directory = std::move(opened.fd);
    if (!share.posix_owners) {
        return directory;
    }
    auto owner = file_ownership(directory.get(), path);
    if (!owner) {
        return owner.error();
    }
    if (owner->uid != effective_uid()) {
        return failure("refusing " + path + ": it is owned by uid " + std::to_string(owner->uid) +
                       ", not root, so someone else made it; move it away (the next write makes "
                       "a new one)");
    }
    // Ours but open to others (mkdir's mode is narrowed by the umask; an old one may be 0755):
    // a writer only narrows it, a reader refuses until then.
    if ((owner->mode & 022) != 0) {
        if (!create) {
            return check_private_owner(directory.get(), effective_uid(), path).error();
        }
        if (auto narrowed = set_file_mode(directory.get(), 0700, path); !narrowed) {
            return not_root_only(path, narrowed.error().message);
        }
    }
    return directory;
}

Result<LoadedRegistry> load_at(int directory, const RegistryShare& share, const RegistryKeys& keys,
                               const std::string& path) {
    UntrustedFile rules;
    rules.max_bytes = k_max_registry_bytes;
    rules.check_owner = share.posix_owners;
    rules.owner = effective_uid();
    auto read = read_untrusted_file_at(directory, k_registry_file, path, rules);
    if (!read) {
        return read.error();
    }
    LoadedRegistry loaded;
    if (!read->found) {
        return loaded;
    }
    auto file = parse_registry_file(read->text);
    if (!file) {
        return with_context(path, file.error());
    }
    loaded.exists = true;
    loaded.file = std::move(*file);
    loaded.verification = verify_registry_file(loaded.file, keys);
    loaded.problem = trust_problem(loaded.verification, loaded.file, keys, path);
    return loaded;
}

RegistryIdentity identity_of(const LoadedRegistry& loaded) {
    return {loaded.exists, loaded.registry().pool_id, loaded.registry().generation,
            loaded.file.mac};
}

// May `loaded` be changed by an update with these options?
Result<void> check_writable(const LoadedRegistry& loaded, const RegistryUpdate& options,
                            const std::string& share_source) {
    bool review = false;
    if (!loaded.verified()) {
        const RegistryTrust trust = loaded.verification.trust;
        const bool accepted =
            (trust == RegistryTrust::Unsigned && options.accept_unsigned) ||
            ((trust == RegistryTrust::UnknownKey || trust == RegistryTrust::BadSignature) &&
             options.accept_unverified);
        if (!accepted && options.force_write) {
            // `registry sign` without the flag that takes this kind of registry: a usage error.
            return invalid(
                loaded.problem + "; to sign it as it is, review it and add " +
                (trust == RegistryTrust::Unsigned ? "--accept-unsigned" : "--accept-unverified") +
                " --expect " + loaded.file.digest);
        }
        if (!accepted) {
            return failure(loaded.problem);
        }
        review = true;
    }
    if (options.review_older &&
        !check_not_older(options.seen, share_source, identity_of(loaded)).ok()) {
        review = true;
    }
    if (review && loaded.file.digest != options.expect_digest) {
        return invalid(
            options.expect_digest.empty()
                ? "the registry on the share is not one this instance trusts as it is; review it "
                  "with `dsvm-agent users` and name its content digest " +
                      loaded.file.digest + " with --expect to sign exactly that"
                : "the registry on the share has content digest " + loaded.file.digest + ", not " +
                      options.expect_digest + " as reviewed: it changed since; review it again");
    }
    return {};
}

// How often, and how far apart, a registry the directory lists but a lookup does not find is
// looked up again: SMB clients trust "no such file" for a second (Linux's cifs) or a few (Windows'
// redirector).
constexpr int k_absent_rereads = 12;
constexpr auto k_absent_reread_wait = std::chrono::milliseconds(500);

// .dsvm-agent opened once more by its path, under the lock. The registry is then read through
// the new descriptor, because a network client may still trust what a lookup before the lock
// said, and "no registry" trusted wrongly is the one answer that would make this instance write
// a new registry over the one another instance has just written (two instances of a new pool,
// started together). An open by path makes the NFS client ask the server for the directory's
// attributes (close-to-open), and with them it forgets the names it remembered as missing. It
// must still be the directory whose lock is held: its registry.lock is the file locked.
Result<Fd> reopen_locked_directory(const RegistryShare& share, int lock) {
    const std::string path = share.dir + "/" + k_directory;
    auto reopened = open_directory(share, false);
    if (!reopened) {
        return reopened.error();
    }
    if (!*reopened || !same_file_at(lock, reopened->get(), k_lock_file)) {
        return failure(path + " was replaced while this instance held its lock; try again");
    }
    return reopened;
}

// The registry, read under the lock. Absent is confirmed by listing the directory, which the
// client answers from the server: SMB clients also remember a missing name for a while of their
// own, so while the listing has the registry, it is looked up again (for up to 6 s).
Result<LoadedRegistry> load_locked(int directory, const RegistryShare& share,
                                   const RegistryKeys& keys, const std::string& path,
                                   Clock& clock) {
    for (int reread = 0;; ++reread) {
        auto loaded = load_at(directory, share, keys, path);
        if (!loaded || loaded->exists) {
            return loaded;
        }
        auto names = directory_names_at(directory, share.dir + "/" + k_directory);
        if (!names) {
            return names.error();
        }
        if (std::find(names->begin(), names->end(), k_registry_file) == names->end()) {
            return loaded;
        }
        if (reread == k_absent_rereads) {
            return failure("cannot read " + path +
                           ": the share lists it, but this instance's client still finds no such "
                           "file; try again");
        }
        clock.sleep_for(k_absent_reread_wait);
    }
}

// Called under the lock only, which is why a fixed temporary name is enough; one found already
// there was left by a writer that died.
Result<void> replace_file(int directory, const std::string& directory_path, const char* name,
                          std::string_view content) {
    ReplaceOptions options;
    options.mode = 0600;
    options.temporary = std::string(name) + ".tmp";
    return replace_file_at(directory, name, content, options, directory_path);
}

}  // namespace

RegistryStore::RegistryStore(RegistryShare share, std::shared_ptr<const RegistryKeys> keys,
                             Clock& clock)
    : m_share(std::move(share)), m_keys(std::move(keys)), m_clock(&clock) {}

std::string RegistryStore::registry_path() const {
    return m_share.dir + "/" + k_directory + "/" + k_registry_file;
}

Result<LoadedRegistry> RegistryStore::load() const {
    auto directory = open_directory(m_share, false);
    if (!directory) {
        return directory.error();
    }
    if (!*directory) {
        return LoadedRegistry{};
    }
    return load_at(directory->get(), m_share, *m_keys, registry_path());
}

Result<LoadedRegistry> RegistryStore::update(const std::function<Result<void>(Registry&)>& change,
                                             const RegistryUpdate& options) {
    if (m_keys->current.empty()) {
        return failure(
            "cannot change the pool registry: this instance has no registry key (set it with "
            "`dsvm-agent registry set-key --key-stdin`, or the extension's protected setting "
            "registryKey)");
    }
    const std::string directory_path = m_share.dir + "/" + k_directory;
    auto directory = open_directory(m_share, true);
    if (!directory) {
        return directory.error();
    }
    // Held until `lock` goes out of scope: closing the descriptor releases it.
    auto lock =
        lock_file_at(directory->get(), k_lock_file, directory_path + "/" + k_lock_file, k_lock_wait,
                     "SMB mounted with 'nobrl', or NFS without a lock service", *m_clock);
    if (!lock) {
        return lock.error();
    }
    if (m_share.posix_owners) {
        if (auto owned = check_private_owner(lock->get(), effective_uid(),
                                             directory_path + "/" + k_lock_file);
            !owned) {
            return owned.error();
        }
    }
    auto locked = reopen_locked_directory(m_share, lock->get());
    if (!locked) {
        return locked.error();
    }
    auto current = load_locked(locked->get(), m_share, *m_keys, registry_path(), *m_clock);
    if (!current) {
        return current.error();
    }
    if (auto writable = check_writable(*current, options, options.share_source); !writable) {
        return writable.error();
    }
    if (options.check_seen) {
        if (auto fresh = check_not_older(options.seen, options.share_source, identity_of(*current));
            !fresh) {
            return fresh.error();
        }
    }
    Registry changed = current->registry();
    if (auto changed_ok = change(changed); !changed_ok) {
        return changed_ok.error();
    }
    // The generation and the pool's id are the store's to set, and order is not content.
    changed.generation = current->registry().generation;
    changed.pool_id = current->registry().pool_id;
    sort_users(changed.users);
    for (const auto& user : changed.users) {
        if (user.uid >= changed.next_uid && user.uid != UINT32_MAX) {
            changed.next_uid = user.uid + 1;
        }
    }
    if (changed == current->registry() && current->verified() && !options.force_write) {
        return current;
    }
    changed.generation = std::max(current->registry().generation + 1, options.min_generation);
    if (changed.pool_id.empty()) {
        changed.pool_id = new_pool_id();
    }
    const std::string_view key = m_keys->current.view();
    if (auto written = replace_file(locked->get(), directory_path, k_registry_file,
                                    render_registry_file(changed, key));
        !written) {
        return written.error();
    }
    // Written second: whoever sees the new generation finds the new registry already there.
    if (auto written = replace_file(locked->get(), directory_path, k_generation_file,
                                    std::to_string(changed.generation) + "\n");
        !written) {
        return written.error();
    }
    LoadedRegistry after;
    after.exists = true;
    after.file.version = 2;
    after.file.registry = std::move(changed);
    after.file.key_id = m_keys->current_id;
    after.file.mac = registry_signature(after.file.registry, key);
    after.file.digest = registry_digest(after.file.registry);
    after.verification.trust = RegistryTrust::Verified;
    return after;
}

Result<std::string> RegistryStore::stamp() const {
    auto directory = open_directory(m_share, false);
    if (!directory) {
        return directory.error();
    }
    if (!*directory) {
        return std::string();
    }
    UntrustedFile rules;
    rules.max_bytes = k_max_generation_bytes;
    const std::string generation_path = m_share.dir + "/" + k_directory + "/" + k_generation_file;
    // Only ever a hint: a generation file that is not a number says "look", never what to do.
    std::string stamp = "generation ?";
    if (auto generation =
            read_untrusted_file_at(directory->get(), k_generation_file, generation_path, rules);
        generation && generation->found) {
        std::string digits = generation->text;
        if (!digits.empty() && digits.back() == '\n') {
            digits.pop_back();
        }
        if (!digits.empty() && digits.size() <= 20 &&
            digits.find_first_not_of("0123456789") == std::string::npos) {
            stamp = "generation " + digits;
        }
    }
    // The registry's own identity too: an edit that leaves the generation file alone is seen.
    if (const auto identity = file_identity_at(directory->get(), k_registry_file);
        !identity.empty()) {
        stamp += " " + identity;
    }
    return stamp;
}

}  // namespace dsvm::users
