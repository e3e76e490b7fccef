#include "support/sandbox.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "common/fs.h"
#include "mount/mountinfo.h"

namespace dsvm::test {

using namespace dsvm::mount;

namespace fs = std::filesystem;

namespace {

// Mounts below the sandbox, deepest first, so removing the tree never crosses into a mount.
void unmount_below(const std::string& path) {
    auto text = read_file("/proc/self/mountinfo");
    if (!text) {
        return;
    }
    auto entries = parse_mountinfo(*text);
    if (!entries) {
        return;
    }
    std::vector<std::string> points;
    for (const auto& entry : *entries) {
        if (entry.mount_point.rfind(path + "/", 0) == 0) {
            points.push_back(entry.mount_point);
        }
    }
    std::sort(points.begin(), points.end(),
              [](const auto& a, const auto& b) { return a.size() > b.size(); });
    for (const auto& point : points) {
        ::umount2(point.c_str(), MNT_DETACH);
    }
}

std::uint64_t fnv1a(std::uint64_t hash, std::string_view bytes) {
    for (const unsigned char byte : bytes) {
        hash ^= byte;
        hash *= 1099511628211ULL;
    }
    return hash;
}

}  // namespace

Sandbox::Sandbox() {
    std::string pattern = (fs::temp_directory_path() / "dsvm-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error("mkdtemp failed");
    }
    m_path = fs::canonical(pattern).string();
}

Sandbox::~Sandbox() {
    unmount_below(m_path);
    std::error_code ignored;
    fs::remove_all(m_path, ignored);
}

std::string Sandbox::path(std::string_view relative) const {
    return m_path + "/" + std::string(relative);
}

std::string Sandbox::write(std::string_view relative, std::string_view content, mode_t mode) {
    const std::string full = path(relative);
    fs::create_directories(fs::path(full).parent_path());
    if (auto written = write_file_atomic(full, content, mode); !written) {
        throw std::runtime_error(written.error().message);
    }
    return full;
}

std::string Sandbox::mkdir(std::string_view relative, mode_t mode) {
    const std::string full = path(relative);
    if (auto made = make_directories(full, mode); !made) {
        throw std::runtime_error(made.error().message);
    }
    return full;
}

std::string Sandbox::read(std::string_view relative) const {
    auto text = read_file(path(relative));
    if (!text) {
        throw std::runtime_error(text.error().message);
    }
    return *text;
}

bool Sandbox::exists(std::string_view relative) const {
    return path_exists(path(relative));
}

struct stat stat_of(const std::string& path) {
    struct stat info {};
    REQUIRE(::lstat(path.c_str(), &info) == 0);
    return info;
}

mode_t mode_of(const std::string& path) {
    return stat_of(path).st_mode & 07777;
}

std::string tree_digest(const std::string& path) {
    std::vector<std::string> lines;
    for (auto it = fs::recursive_directory_iterator(path); it != fs::recursive_directory_iterator();
         ++it) {
        const std::string name = it->path().string();
        struct stat info {};
        if (::lstat(name.c_str(), &info) != 0) {
            continue;
        }
        std::string line = name.substr(path.size()) + " " + std::to_string(info.st_mode) + " " +
                           std::to_string(info.st_uid) + ":" + std::to_string(info.st_gid) + " " +
                           std::to_string(info.st_size) + " " +
                           std::to_string(info.st_mtim.tv_sec) + "." +
                           std::to_string(info.st_mtim.tv_nsec);
        if (S_ISREG(info.st_mode)) {
            auto content = read_file(name);
            line += " " + std::to_string(fnv1a(14695981039346656037ULL, content ? *content : ""));
        } else if (S_ISLNK(info.st_mode)) {
            line += " -> " + fs::read_symlink(it->path()).string();
        }
        lines.push_back(std::move(line));
    }
    std::sort(lines.begin(), lines.end());
    std::string all;
    for (const auto& line : lines) {
        all += line + "\n";
    }
    return all;
}

std::vector<std::string> files_with_text(const std::string& path, std::string_view needle) {
    std::vector<std::string> found;
    for (const auto& entry : fs::recursive_directory_iterator(path)) {
        if (entry.is_symlink() || !entry.is_regular_file()) {
            continue;
        }
        auto text = read_file(entry.path().string());
        if (text && text->find(needle) != std::string::npos) {
            found.push_back(entry.path().string());
        }
    }
    return found;
}

}  // namespace dsvm::test
