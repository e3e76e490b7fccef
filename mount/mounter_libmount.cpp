#include "mount/mounter.h"

#include <libmount/libmount.h>

#include <cerrno>
#include <memory>

#include "common/fs.h"

namespace dsvm::mount {

namespace {

struct ContextDeleter {
    void operator()(libmnt_context* context) const { mnt_free_context(context); }
};
using ContextPtr = std::unique_ptr<libmnt_context, ContextDeleter>;

// libmount reports helper and syscall failures through the context; turn them into one line.
std::string describe_failure(libmnt_context* context, int rc) {
    char buffer[BUFSIZ] = {};
    const int code = mnt_context_get_excode(context, rc, buffer, sizeof buffer);
    std::string message = buffer[0] != '\0' ? std::string(buffer) : std::string();
    if (message.empty()) {
        const int syscall_errno = mnt_context_get_syscall_errno(context);
        message =
            syscall_errno != 0 ? errno_text(syscall_errno) : "libmount error " + std::to_string(rc);
    }
    if (code != MNT_EX_SUCCESS && mnt_context_helper_executed(context) == 1) {
        message += " (mount helper exit status " +
                   std::to_string(mnt_context_get_helper_status(context)) + ")";
    }
    return message;
}

// mnt_context_mount/umount return 0 once a helper (mount.cifs, mount.nfs) has run, whatever it
// exited with: its failure is only in the helper status.
std::string helper_failure(libmnt_context* context) {
    if (mnt_context_helper_executed(context) != 1) {
        return {};
    }
    const int status = mnt_context_get_helper_status(context);
    if (status == 0) {
        return {};
    }
    const char* type = mnt_context_get_fstype(context);
    return "the mount helper" + (type != nullptr ? " for " + std::string(type) : std::string()) +
           " failed with exit status " + std::to_string(status) +
           " (its message is in the agent's log)";
}

ContextPtr new_context() {
    ContextPtr context(mnt_new_context());
    if (context) {
        // Source and target are always both given: never let fstab or utab fill anything in.
        mnt_context_set_optsmode(context.get(), MNT_OMODE_IGNORE);
        mnt_context_disable_mtab(context.get(), 1);
    }
    return context;
}

}  // namespace

Result<void> LibmountMounter::mount(const MountRequest& request) {
    ContextPtr context = new_context();
    if (!context) {
        return failure("cannot mount " + request.target + ": out of memory");
    }
    if (mnt_context_set_source(context.get(), request.source.c_str()) != 0 ||
        mnt_context_set_target(context.get(), request.target.c_str()) != 0 ||
        (!request.fs_type.empty() &&
         mnt_context_set_fstype(context.get(), request.fs_type.c_str()) != 0) ||
        (!request.options.empty() &&
         mnt_context_set_options(context.get(), request.options.c_str()) != 0)) {
        return failure("cannot mount " + request.target + ": libmount rejected the request");
    }
    const int rc = mnt_context_mount(context.get());
    if (rc != 0 || mnt_context_get_status(context.get()) != 1) {
        return failure("cannot mount " + request.source + " on " + request.target + ": " +
                       describe_failure(context.get(), rc));
    }
    if (const std::string helper = helper_failure(context.get()); !helper.empty()) {
        return failure("cannot mount " + request.source + " on " + request.target + ": " + helper);
    }
    return {};
}

Result<void> LibmountMounter::unmount(const std::string& target) {
    ContextPtr context = new_context();
    if (!context) {
        return failure("cannot unmount " + target + ": out of memory");
    }
    if (mnt_context_set_target(context.get(), target.c_str()) != 0) {
        return failure("cannot unmount " + target + ": libmount rejected the target");
    }
    const int rc = mnt_context_umount(context.get());
    if (rc != 0 || mnt_context_get_status(context.get()) != 1) {
        if (mnt_context_get_syscall_errno(context.get()) == EBUSY) {
            return failure("cannot unmount " + target + ": it is busy (files are open there)");
        }
        return failure("cannot unmount " + target + ": " + describe_failure(context.get(), rc));
    }
    if (const std::string helper = helper_failure(context.get()); !helper.empty()) {
        return failure("cannot unmount " + target + ": " + helper);
    }
    return {};
}

Result<std::vector<MountEntry>> LibmountMounter::mounts() {
    auto text = read_file_if_exists("/proc/self/mountinfo");
    if (!text) {
        return text.error();
    }
    return parse_mountinfo(text->text);
}

}  // namespace dsvm::mount
