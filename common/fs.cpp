#include "common/fs.h"
#include "common/temporaries.h"

#include <algorithm>
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

std::string random_temporary(const std::string& name, long pid, std::random_device& entropy) {
    return name + std::string(k_temporary_infix) + std::to_string(pid) + "." +
           std::to_string(entropy() % 1000000000U);
}

namespace {

bool all_digits(std::string_view text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_stale_temporary(std::string_view suffix, const std::function<bool(long pid)>& gone) {
    const auto dot = suffix.find('.');
    if (dot == std::string_view::npos) {
        return all_digits(suffix);
    }
    const std::string_view pid_text = suffix.substr(0, dot);
    if (!all_digits(pid_text) || !all_digits(suffix.substr(dot + 1)) || pid_text.size() > 9) {
        return false;
    }
    const long pid = std::stol(std::string(pid_text));
    return pid > 0 && gone(pid);
}

}  // namespace

std::vector<std::string> stale_temporaries(const std::vector<std::string>& names,
                                           const std::string& name,
                                           const std::function<bool(long pid)>& gone) {
    const std::string prefix = name + std::string(k_temporary_infix);
    std::vector<std::string> stale;
    for (const auto& entry : names) {
        if (entry.size() > prefix.size() && entry.compare(0, prefix.size(), prefix) == 0 &&
            is_stale_temporary(std::string_view(entry).substr(prefix.size()), gone)) {
            stale.push_back(entry);
        }
    }
    return stale;
}

}  // namespace dsvm
