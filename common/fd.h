// Owners for OS handles: an Fd closes its descriptor; a ScopeGuard runs a function on scope exit.
#pragma once

#include <unistd.h>

#include <functional>
#include <utility>

namespace dsvm {

class Fd {
  public:
    Fd() = default;
    explicit Fd(int fd) : m_fd(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) {
            reset(std::exchange(other.m_fd, -1));
        }
        return *this;
    }
    ~Fd() { reset(); }

    int get() const { return m_fd; }
    bool valid() const { return m_fd >= 0; }
    explicit operator bool() const { return valid(); }
    int release() { return std::exchange(m_fd, -1); }
    void reset(int fd = -1) {
        if (m_fd >= 0) {
            ::close(m_fd);
        }
        m_fd = fd;
    }

  private:
    int m_fd = -1;
};

class ScopeGuard {
  public:
    explicit ScopeGuard(std::function<void()> on_exit) : m_on_exit(std::move(on_exit)) {}
    ScopeGuard(const ScopeGuard&) = delete;
    ScopeGuard& operator=(const ScopeGuard&) = delete;
    ~ScopeGuard() {
        if (m_on_exit) {
            m_on_exit();
        }
    }
    void dismiss() { m_on_exit = nullptr; }

  private:
    std::function<void()> m_on_exit;
};

}  // namespace dsvm
