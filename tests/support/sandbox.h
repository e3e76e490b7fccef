// A temporary directory tree for a test, removed (after lazily unmounting anything below it)
// when the test ends; and a digest of a whole tree to prove that nothing changed.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace dsvm::test {

class Sandbox {
  public:
    Sandbox();
    ~Sandbox();
    Sandbox(const Sandbox&) = delete;
    Sandbox& operator=(const Sandbox&) = delete;

    // The sandbox's canonical absolute path.
    const std::string& path() const { return m_path; }
    // path() + "/" + relative.
    std::string path(std::string_view relative) const;
    // Writes a file (creating parent directories) and returns its full path.
    std::string write(std::string_view relative, std::string_view content, mode_t mode = 0644);
    std::string mkdir(std::string_view relative, mode_t mode = 0755);
    std::string read(std::string_view relative) const;
    bool exists(std::string_view relative) const;

  private:
    std::string m_path;
};

// lstat(2) of a path that must exist (a failed REQUIRE otherwise), and its permission bits.
struct stat stat_of(const std::string& path);
mode_t mode_of(const std::string& path);

// A digest of every entry below `path`: names, types, modes, owners, sizes, mtimes, contents
// and link targets. Two equal digests mean nothing under the tree changed.
std::string tree_digest(const std::string& path);

// Every regular file below `path` (symlinks not followed) whose content contains `needle`.
std::vector<std::string> files_with_text(const std::string& path, std::string_view needle);

}  // namespace dsvm::test
