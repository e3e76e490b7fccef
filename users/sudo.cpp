#include "users/sudo.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/fd.h"
#include "common/fs.h"
#include "common/text.h"

namespace dsvm::users {

namespace {

constexpr mode_t k_sudoers_mode = 0440;
constexpr mode_t k_sudoers_dir_mode = 0750;  // as Debian ships /etc/sudoers.d
// sudo skips names with a '.' in them (and this one is hidden too), so a half-written or
// unvalidated temporary file is never read as policy.
constexpr std::string_view k_temporary_name = ".dsvm-agent.tmp";

// Whether `path` already is exactly the drop-in we would write: same bytes, 0440, root:root.
bool already_installed(const std::string& path, const std::string& content) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
        return false;
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode) ||
        (info.st_mode & 07777) != k_sudoers_mode || info.st_uid != 0 || info.st_gid != 0 ||
        info.st_size != static_cast<off_t>(content.size())) {
        return false;
    }
    std::string existing(content.size() + 1, '\0');
    std::size_t filled = 0;
    for (;;) {
        const ssize_t got = ::read(fd.get(), existing.data() + filled, existing.size() - filled);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        filled += static_cast<std::size_t>(got);
        if (filled == existing.size()) {
            break;
        }
    }
    existing.resize(filled);
    return existing == content;
}

Result<void> ensure_directory(const Root& root, const std::string& directory) {
    if (is_directory(directory)) {
        return {};
    }
    if (auto made = make_directories(root.path("/etc"), 0755); !made) {
        return made;
    }
    if (::mkdir(directory.c_str(), k_sudoers_dir_mode) != 0 && errno != EEXIST) {
        return failure("cannot create directory " + directory + ": " + errno_text(errno));
    }
    if (!is_directory(directory)) {
        return failure("cannot use " + directory + ": it exists and is not a directory");
    }
    // The umask may have narrowed the mode.
    ::chmod(directory.c_str(), k_sudoers_dir_mode);
    return {};
}

Result<void> write_temporary(const std::string& path, std::string_view content) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return failure("cannot remove stale " + path + ": " + errno_text(errno));
    }
    Fd fd(
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, k_sudoers_mode));
    if (!fd) {
        return failure("cannot create " + path + ": " + errno_text(errno));
    }
    // sudo ignores a drop-in not owned by root or writable by others; a setgid directory or
    // the umask must not decide that.
    if (::fchown(fd.get(), 0, 0) != 0 || ::fchmod(fd.get(), k_sudoers_mode) != 0) {
        return failure("cannot set owner and mode of " + path + ": " + errno_text(errno));
    }
    while (!content.empty()) {
        const ssize_t written = ::write(fd.get(), content.data(), content.size());
        if (written < 0 && errno == EINTR) {
            continue;
        }
        if (written < 0) {
            return failure("cannot write " + path + ": " + errno_text(errno));
        }
        content.remove_prefix(static_cast<std::size_t>(written));
    }
    if (::fsync(fd.get()) != 0) {
        return failure("cannot fsync " + path + ": " + errno_text(errno));
    }
    return {};
}

}  // namespace

std::string render_sudoers(SudoAuthentication authentication) {
    const bool required = authentication == SudoAuthentication::Password;
    return "# Managed by dsvm-agent: members of " + std::string(k_sudo_group) +
           " may run any command as any user" +
           (required ? std::string(", after typing their own password.\n")
                     : std::string(", without a password (sudoAuthentication: none).\n")) +
           "# Edits are overwritten on the next pass.\n"
           "%" +
           std::string(k_sudo_group) +
           (required ? " ALL=(ALL:ALL) ALL\n" : " ALL=(ALL:ALL) NOPASSWD: ALL\n");
}

Result<bool> install_sudoers(const Root& root, ProcessRunner& runner,
                             SudoAuthentication authentication) {
    const std::string content = render_sudoers(authentication);
    const std::string target = root.path(k_sudoers_path);
    if (already_installed(target, content)) {
        return false;
    }
    const std::string directory = root.path("/etc/sudoers.d");
    if (auto made = ensure_directory(root, directory); !made) {
        return made.error();
    }
    const std::string temporary = directory + "/" + std::string(k_temporary_name);
    ScopeGuard remove_temporary([&] { ::unlink(temporary.c_str()); });
    if (auto written = write_temporary(temporary, content); !written) {
        return written.error();
    }

    auto checked = runner.run({"/usr/sbin/visudo", "-c", "-f", temporary});
    if (!checked) {
        return with_context("cannot validate " + temporary, checked.error());
    }
    if (checked->exit_code != 0) {
        std::string message =
            "visudo rejected " + temporary + " (exit " + std::to_string(checked->exit_code) + ")";
        if (const std::string detail = std::string(trim_end(checked->err, "\n "));
            !detail.empty()) {
            message += ": " + detail;
        }
        return failure(std::move(message));
    }

    if (::rename(temporary.c_str(), target.c_str()) != 0) {
        return failure("cannot rename " + temporary + " to " + target + ": " + errno_text(errno));
    }
    remove_temporary.dismiss();
    Fd directory_fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (directory_fd) {
        ::fsync(directory_fd.get());
    }
    return true;
}

}  // namespace dsvm::users
