// Small, careful file primitives shared by every module. Paths given here are real paths (already
// joined to a Root); errors name the path and the errno text.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/result.h"

namespace dsvm {

// Reads a whole regular file. Fails if it is missing, unreadable or not a regular file.
Result<std::string> read_file(const std::string& path);

// Reads a whole regular file if it exists; `found` is false when it does not.
struct OptionalText {
    bool found = false;
    std::string text;
};
Result<OptionalText> read_file_if_exists(const std::string& path);

// The same, for `name` relative to an open directory (AT_FDCWD for the working directory), with
// extra open flags (O_NOFOLLOW, O_NONBLOCK so a FIFO cannot block); `shown` names it in errors.
Result<OptionalText> read_file_at(int directory_fd, const std::string& name,
                                  const std::string& shown, int extra_flags);

// Replaces path atomically: writes a temporary file beside it (O_EXCL, O_NOFOLLOW, created with
// `mode` so the content is never more visible than intended), fsyncs it, renames it over path
// and fsyncs the directory. A reader sees the old or the new file, never a mix.
Result<void> write_file_atomic(const std::string& path, std::string_view content, mode_t mode);

// write(2) until all of `content` is written (EINTR retried); errors name `path`.
Result<void> write_all(int fd, std::string_view content, const std::string& path);

// How replace_file_at writes: the final mode and owner (-1 leaves the owner as created), and an
// optional fixed temporary name (a stale one is removed first); empty means a fresh random one.
struct ReplaceOptions {
    mode_t mode = 0644;
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    std::string temporary;
};

// Replaces `name` in the open directory `directory_fd` atomically: a temporary beside it
// (O_EXCL|O_NOFOLLOW, created 0600), owner and mode set before a byte is written, written,
// fsynced and closed (NFS may report a failed write only then), renamed over `name`, and the
// directory fsynced (a refusal of that is ignored: the new file is already in place).
// `shown_directory` names the directory in errors.
Result<void> replace_file_at(int directory_fd, const std::string& name, std::string_view content,
                             const ReplaceOptions& options, const std::string& shown_directory);

// mkdir -p with `mode` for the directories it creates; existing ones are left as they are.
// Fails if a component exists and is not a directory.
Result<void> make_directories(const std::string& path, mode_t mode);

bool is_directory(const std::string& path);
bool path_exists(const std::string& path);

// "strerror(errno)" as a string, for messages.
std::string errno_text(int error_number);

}  // namespace dsvm
