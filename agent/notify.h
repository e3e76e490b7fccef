// The service manager seam: sd_notify(3) READY/STATUS/STOPPING lines. Outside systemd
// ($NOTIFY_SOCKET unset) every call does nothing.
#pragma once

#include <string>

namespace dsvm {

class Notifier {
  public:
    virtual ~Notifier() = default;
    virtual void ready(const std::string& status) = 0;
    virtual void status(const std::string& status) = 0;
    virtual void stopping() = 0;
};

class SystemdNotifier final : public Notifier {
  public:
    void ready(const std::string& status) override;
    void status(const std::string& status) override;
    void stopping() override;
};

}  // namespace dsvm
