// A sandbox instance with Debian's base accounts and a share directory bound in: what the pool
// users tests (and the notebook mount tests) run the real binary against.
#pragma once

#include <sys/mount.h>

#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "support/process.h"
#include "support/registry_fixture.h"
#include "support/sandbox.h"

namespace dsvm::test {

inline constexpr const char* k_passwd =
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "bin:x:2:2:bin:/bin:/usr/sbin/nologin\n"
    "sys:x:3:3:sys:/dev:/usr/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    "azureuser:x:1000:1000:Azure User:/home/azureuser:/bin/bash\n";
inline constexpr const char* k_group =
    "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nshadow:x:42:\nsudo:x:27:azureuser\n"
    "datasci:x:998:\nnogroup:x:65534:\nazureuser:x:1000:\n";
inline constexpr const char* k_shadow =
    "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n"
    "sys:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\nazureuser:!:19000:0:99999:7:::\n";
inline constexpr const char* k_gshadow =
    "root:*::\ndaemon:*::\nbin:*::\nsys:*::\nshadow:*::\nsudo:*::azureuser\ndatasci:!::\n"
    "nogroup:*::\nazureuser:!::\n";

inline const std::string k_pool =
    R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"},
        "users": [{"name": "alice", "sudo": true}, {"name": "bob", "groups": ["datasci"]}]})";

// One instance: a root with Debian's base accounts, /srv/share bound to the pool's share.
class Instance {
  public:
    Instance(const std::string& share, const std::string& pool) : Instance(pool) {
        const std::string target = m_sandbox.mkdir("srv/share");
        REQUIRE(::mount(share.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) == 0);
    }
    // Without a share bound in: the pool's share is mounted by the agent itself.
    explicit Instance(const std::string& pool) {
        m_sandbox.write("etc/passwd", k_passwd);
        m_sandbox.write("etc/group", k_group);
        m_sandbox.write("etc/shadow", k_shadow, 0640);
        m_sandbox.write("etc/gshadow", k_gshadow, 0640);
        m_sandbox.write("etc/skel/.bashrc", "# skel\n");
        m_sandbox.write("etc/dsvm-agent/pool.json", pool);
        m_sandbox.mkdir("home/azureuser", 0700);
        // Every instance of the pool holds the pool's registry key.
        REQUIRE(users::write_registry_keys(Root(m_sandbox.path()), k_pool_key, {}).ok());
    }
    ProcessResult agent(std::vector<std::string> arguments, const std::string& input = {}) {
        std::vector<std::string> argv{DSVM_AGENT_BINARY, "--root", m_sandbox.path(), "--imds",
                                      "off"};
        argv.insert(argv.end(), arguments.begin(), arguments.end());
        return run_process(argv, {}, input);
    }
    // name → uid of every passwd entry.
    std::map<std::string, std::string> uids() const {
        std::map<std::string, std::string> out;
        const std::string text = m_sandbox.read("etc/passwd");
        size_t position = 0;
        while (position < text.size()) {
            const size_t end = text.find('\n', position);
            const std::string line = text.substr(position, end - position);
            position = end + 1;
            const size_t first = line.find(':');
            const size_t second = line.find(':', first + 1);
            const size_t third = line.find(':', second + 1);
            out[line.substr(0, first)] = line.substr(second + 1, third - second - 1);
        }
        return out;
    }
    Sandbox& sandbox() { return m_sandbox; }

  private:
    Sandbox m_sandbox;
};

}  // namespace dsvm::test
