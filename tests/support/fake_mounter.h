// A Mounter for unit tests: an in-memory mount table that records every call, so whole engine
// passes run in-process (and under the sanitizers) without root, a mount namespace or a server.
//
// What it does, deterministically:
// - the table starts with the root filesystem (mount ID 1) and whatever foreign mounts the test
//   adds; every mount gets the next mount ID (100, 101, ...), as the kernel never reuses one
//   while it is in use;
// - mount() appends an entry on the request's target (mounts stack, as in the kernel: the last
//   one on a target is the visible one); it fails as mount(2) would when the target is not an
//   existing directory, and once, with the test's message, after fail_next_mount;
// - unmount() removes the visible mount on the target, fails when there is none ("not
//   mounted"), and once, with the test's message, after fail_next_unmount;
// - nothing happens to the files: the mount point shows what it held before. A test that needs
//   the share's content there (a registry another instance wrote) sets on_mount.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mount/mounter.h"
#include "mount/mountinfo.h"

namespace dsvm::test {

class FakeMounter final : public mount::Mounter {
  public:
    // One call, in the order made; failed ones too (ok false, error as returned).
    struct Call {
        enum class Kind { Mount, Unmount };
        Kind kind = Kind::Mount;
        mount::MountRequest request;  // an unmount has only request.target
        bool ok = true;
        std::string error;
    };

    FakeMounter() {
        mount::MountEntry root;
        root.mount_id = 1;
        root.parent_id = 1;
        root.root = "/";
        root.mount_point = "/";
        root.mount_options = "rw,relatime";
        root.fs_type = "ext4";
        root.source = "/dev/sda1";
        root.super_options = "rw";
        m_table.push_back(std::move(root));
    }

    Result<void> mount(const mount::MountRequest& request) override {
        m_calls.push_back({Call::Kind::Mount, request, true, {}});
        auto refused = [&](const std::string& why) -> Result<void> {
            m_calls.back().ok = false;
            m_calls.back().error =
                "cannot mount " + request.source + " on " + request.target + ": " + why;
            return failure(m_calls.back().error);
        };
        if (auto message = take(m_mount_failures, request.target)) {
            return refused(*message);
        }
        // mount(2) needs an existing directory; the engine must have made it first.
        struct stat info {};
        if (::stat(request.target.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
            return refused("No such file or directory");
        }
        m_table.push_back(
            entry_for(request.source, request.target, shown_type(request), request.options));
        if (on_mount) {
            on_mount(request);
        }
        return {};
    }

    Result<void> unmount(const std::string& target) override {
        mount::MountRequest request;
        request.target = target;
        m_calls.push_back({Call::Kind::Unmount, request, true, {}});
        auto refused = [&](const std::string& why) -> Result<void> {
            m_calls.back().ok = false;
            m_calls.back().error = "cannot unmount " + target + ": " + why;
            return failure(m_calls.back().error);
        };
        if (auto message = take(m_unmount_failures, target)) {
            return refused(*message);
        }
        const auto visible = std::find_if(m_table.rbegin(), m_table.rend(), [&](const auto& entry) {
            return entry.mount_point == target;
        });
        if (visible == m_table.rend()) {
            return refused("not mounted");
        }
        m_table.erase(std::next(visible).base());
        return {};
    }

    Result<std::vector<mount::MountEntry>> mounts() override {
        ++m_table_reads;
        return m_table;
    }

    // A mount the agent did not make, already on `target` (a real path); returns its mount ID.
    int add_foreign_mount(const std::string& source, const std::string& target,
                          const std::string& fs_type, const std::string& options = "rw") {
        m_table.push_back(entry_for(source, target, fs_type, options));
        return m_table.back().mount_id;
    }

    // The next mount (unmount) of `target` fails with `message`; later ones work again.
    void fail_next_mount(const std::string& target, std::string message) {
        m_mount_failures[target] = std::move(message);
    }
    void fail_next_unmount(const std::string& target, std::string message) {
        m_unmount_failures[target] = std::move(message);
    }

    const std::vector<Call>& calls() const { return m_calls; }
    // Every mount request, failed ones included, in order.
    std::vector<mount::MountRequest> mount_requests() const {
        std::vector<mount::MountRequest> out;
        for (const auto& call : m_calls) {
            if (call.kind == Call::Kind::Mount) {
                out.push_back(call.request);
            }
        }
        return out;
    }
    // Every unmounted target, failed ones included, in order.
    std::vector<std::string> unmount_targets() const {
        std::vector<std::string> out;
        for (const auto& call : m_calls) {
            if (call.kind == Call::Kind::Unmount) {
                out.push_back(call.request.target);
            }
        }
        return out;
    }
    // The table as it is now (not counted as a read).
    const std::vector<mount::MountEntry>& table() const { return m_table; }
    // How many mounts are stacked on `target`.
    int mounts_at(std::string_view target) const {
        return static_cast<int>(std::count_if(m_table.begin(), m_table.end(), [&](const auto& e) {
            return e.mount_point == target;
        }));
    }
    // How many times the engine read the table.
    int table_reads() const { return m_table_reads; }

    // Runs after each mount that worked, e.g. to make the share's content appear on the target.
    std::function<void(const mount::MountRequest&)> on_mount;

  private:
    // The kernel shows a bind mount with the type of the filesystem it comes from.
    static std::string shown_type(const mount::MountRequest& request) {
        return request.fs_type.empty() ? "ext4" : request.fs_type;
    }

    mount::MountEntry entry_for(const std::string& source, const std::string& target,
                                const std::string& fs_type, const std::string& options) {
        mount::MountEntry entry;
        entry.mount_id = m_next_id++;
        entry.parent_id = 1;
        entry.root = "/";
        entry.mount_point = target;
        entry.mount_options = options;
        entry.fs_type = fs_type;
        entry.source = source;
        entry.super_options = "rw";
        return entry;
    }

    static std::optional<std::string> take(std::map<std::string, std::string>& failures,
                                           const std::string& target) {
        const auto found = failures.find(target);
        if (found == failures.end()) {
            return std::nullopt;
        }
        std::string message = std::move(found->second);
        failures.erase(found);
        return message;
    }

    std::vector<mount::MountEntry> m_table;
    std::vector<Call> m_calls;
    std::map<std::string, std::string> m_mount_failures;
    std::map<std::string, std::string> m_unmount_failures;
    int m_next_id = 100;
    int m_table_reads = 0;
};

}  // namespace dsvm::test
