#include "common/root.h"

namespace dsvm {

Root::Root(std::string dir) : m_dir(std::move(dir)) {
    while (m_dir.size() > 1 && m_dir.back() == '/') {
        m_dir.pop_back();
    }
    if (m_dir.empty()) {
        m_dir = "/";
    }
}

std::string Root::path(std::string_view absolute) const {
    while (!absolute.empty() && absolute.front() == '/') {
        absolute.remove_prefix(1);
    }
    if (m_dir == "/") {
        return "/" + std::string(absolute);
    }
    if (absolute.empty()) {
        return m_dir;
    }
    return m_dir + "/" + std::string(absolute);
}

}  // namespace dsvm
