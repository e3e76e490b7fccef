// Stands in for /sbin/mount.cifs and /sbin/mount.nfs inside the test's private mount namespace:
// a script bind-mounted over the real helper records the argv and environment libmount gives
// it, then mounts a tmpfs with the same source so mountinfo shows a mount there — or, given a
// server directory, binds <server>/<source without its leading //> there, so what is written
// through one mount is seen by the next, as on a real server.
#pragma once

#include <sys/mount.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "common/fs.h"
#include "support/sandbox.h"

namespace dsvm::test {

struct HelperCall {
    std::string program;
    std::vector<std::string> args;
    std::vector<std::string> environment;  // NAME=value
    // SHA-256 (hex) of the credentials file named in the options, as the helper read it.
    std::string credentials_sha256;
};

class RecordingHelper {
  public:
    // exit_status != 0: the helper records the call, then fails as mount.cifs does when the
    // server refuses (no mount is made).
    explicit RecordingHelper(Sandbox& sandbox, int exit_status = 0, std::string server = {})
        : m_log(sandbox.path("helper.log")), m_script(sandbox.path("helper.sh")) {
        sandbox.write("helper.log", "", 0644);
        const std::string mount_command =
            server.empty() ? std::string("exec /bin/mount -t tmpfs -o size=1m \"$1\" \"$2\"\n")
                           : "path=\"" + server + "/${1#//}\"; mkdir -p \"$path\"; " +
                                 "exec /bin/mount --bind \"$path\" \"$2\"\n";
        sandbox.write(
            "helper.sh",
            "#!/bin/sh\n"
            "{ echo \"program:$0\"; for arg in \"$@\"; do echo \"arg:$arg\"; done;\n"
            "  env | sed 's/^/env:/';\n"
            // What the helper reads from the credentials file, as a digest: never the key.
            "  for arg in \"$@\"; do case \"$arg\" in *credentials=*)\n"
            "    file=${arg#*credentials=}; file=${file%%,*};\n"
            "    echo \"credentials-sha256:$(sha256sum < \"$file\" | cut -d' ' -f1)\";; esac; "
            "done;\n"
            "  echo end; } >> '" +
                m_log + "'\n" +
                (exit_status == 0 ? mount_command
                                  : "echo 'mount error(13): Permission denied' >&2\nexit " +
                                        std::to_string(exit_status) + "\n"),
            0755);
        for (const char* helper : {"/usr/sbin/mount.cifs", "/usr/sbin/mount.nfs"}) {
            if (::mount(m_script.c_str(), helper, nullptr, MS_BIND, nullptr) != 0) {
                throw std::runtime_error(std::string("cannot bind the recording helper over ") +
                                         helper + " (is cifs-utils/nfs-common installed?)");
            }
            m_covered.push_back(helper);
        }
    }
    ~RecordingHelper() {
        for (const auto& helper : m_covered) {
            ::umount2(helper.c_str(), MNT_DETACH);
        }
    }
    RecordingHelper(const RecordingHelper&) = delete;
    RecordingHelper& operator=(const RecordingHelper&) = delete;

    std::vector<HelperCall> calls() const {
        std::vector<HelperCall> out;
        auto text = read_file(m_log);
        std::string all = text ? *text : "";
        size_t position = 0;
        while (position < all.size()) {
            const size_t end = all.find('\n', position);
            const std::string line = all.substr(position, end - position);
            position = end == std::string::npos ? all.size() : end + 1;
            if (line.rfind("program:", 0) == 0) {
                out.push_back({line.substr(8), {}, {}, {}});
            } else if (line.rfind("arg:", 0) == 0 && !out.empty()) {
                out.back().args.push_back(line.substr(4));
            } else if (line.rfind("credentials-sha256:", 0) == 0 && !out.empty()) {
                out.back().credentials_sha256 = line.substr(19);
            } else if (line.rfind("env:", 0) == 0 && !out.empty()) {
                out.back().environment.push_back(line.substr(4));
            }
        }
        return out;
    }
    std::string log_text() const {
        auto text = read_file(m_log);
        return text ? *text : "";
    }

  private:
    std::string m_log;
    std::string m_script;
    std::vector<std::string> m_covered;
};

}  // namespace dsvm::test
