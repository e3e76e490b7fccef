// Every path the agent touches is an absolute path inside a root directory ("/" in production,
// a sandbox in tests and the demo), as systemd's --root= does.
#pragma once

#include <string>
#include <string_view>

namespace dsvm {

class Root {
  public:
    // dir must be absolute; "/" and "" both mean the real root. Trailing slashes are dropped.
    explicit Root(std::string dir = "/");

    // Joins an absolute path to the root: Root("/sb").path("/etc/x") == "/sb/etc/x".
    // A relative path is taken as relative to the root's top.
    std::string path(std::string_view absolute) const;
    // The root directory itself ("/" for the real root).
    const std::string& dir() const { return m_dir; }
    bool is_host() const { return m_dir == "/"; }

  private:
    std::string m_dir;
};

}  // namespace dsvm
