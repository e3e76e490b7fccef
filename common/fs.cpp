#include "common/fs.h"

#include <cerrno>
#include <cstring>
#include <utility>

namespace dsvm {

std::string errno_text(int error_number) {
    return std::strerror(error_number);
}

std::string parent_directory(const std::string& path) {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) {
        return ".";
    }
    if (slash == 0) {
        return "/";
    }
    return path.substr(0, slash);
}

Result<std::string> read_file(const std::string& path) {
    auto text = read_file_if_exists(path);
    if (!text) {
        return text.error();
    }
    if (!text->found) {
        return failure("cannot open " + path + ": " + errno_text(ENOENT));
    }
    return std::move(text->text);
}

Result<void> replace_file(const std::string& path, std::string_view content,
                          const ReplaceOptions& options) {
    const std::string directory = parent_directory(path);
    auto directory_fd = open_directory(directory);
    if (!directory_fd) {
        return with_context("cannot write " + path, directory_fd.error());
    }
    return replace_file_at(directory_fd->get(), path.substr(path.find_last_of('/') + 1), content,
                           options, directory);
}

Result<void> write_file_atomic(const std::string& path, std::string_view content, mode_t mode) {
    ReplaceOptions options;
    options.mode = mode;
    return replace_file(path, content, options);
}

bool is_directory(const std::string& path) {
    return file_status(path, Links::Follow).type == FileType::Directory;
}

bool path_exists(const std::string& path) {
    return file_status(path, Links::DoNotFollow).type != FileType::Missing;
}

bool same_file(const FileStatus& one, const FileStatus& other) {
    return one.device == other.device && one.inode == other.inode;
}

}  // namespace dsvm
