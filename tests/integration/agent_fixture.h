// A sandbox root, a fake metadata service on loopback and the real agent binary.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/fs.h"
#include "mount/mountinfo.h"
#include "support/fake_http_server.h"
#include "support/process.h"
#include "support/sandbox.h"

namespace dsvm::test {

class AgentFixture {
  public:
    AgentFixture() { serve_tags({}); }

    // Serves a metadata document with these tags and userData from now on.
    void serve_tags(std::vector<std::pair<std::string, std::string>> tags,
                    std::string user_data = {}) {
        ScriptedResponse response;
        response.body = imds_document(tags, user_data);
        m_imds.set_default(std::move(response));
    }

    // The agent's global options for this sandbox, then `arguments`.
    std::vector<std::string> args(std::vector<std::string> arguments) const {
        std::vector<std::string> out{"--root",          m_sandbox.path(), "--imds",
                                     m_imds.base_url(), "--imds-timeout", "2"};
        out.insert(out.end(), arguments.begin(), arguments.end());
        return out;
    }

    ProcessResult agent(std::vector<std::string> arguments) const {
        return run_agent(args(std::move(arguments)));
    }

    // How many mounts are stacked on `path` (a path inside the sandbox root).
    int mounts_at(const std::string& path) const {
        auto text = read_file("/proc/self/mountinfo");
        auto entries = mount::parse_mountinfo(text ? *text : "");
        int count = 0;
        for (const auto& entry : entries ? *entries : std::vector<mount::MountEntry>{}) {
            count += entry.mount_point == m_sandbox.path() + path ? 1 : 0;
        }
        return count;
    }

    Sandbox& sandbox() { return m_sandbox; }
    FakeHttpServer& imds() { return m_imds; }

  private:
    Sandbox m_sandbox;
    FakeHttpServer m_imds;
};

// A bind pool: source /srv/share, mount point /datamnt/share, from tags alone.
inline std::vector<std::pair<std::string, std::string>> bind_pool_tags() {
    return {{"dsvm-share", "/srv/share"},
            {"dsvm-mount-point", "/datamnt/share"},
            {"owner", "data-science-team"}};
}

}  // namespace dsvm::test
