// The Windows exe as an admin runs it, under wine: `version` and `--help` of dsvm-agent.exe
// itself, and a dry run of the same command line on the recording fakes of the system's APIs
// (dsvm-agent-fakes.exe: wine has no SMB mapping provider and stubs the account API) against a
// metadata service on loopback with an SMB pool. The storage key goes in on standard input and
// must come out in no output.
#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "common/fs.h"
#include "common/process.h"
#include "support/loopback_server_win32.h"
#include "support/temporary_directory_win32.h"

using namespace dsvm;
using namespace dsvm::test;

namespace {

// Wine shows the host's / as drive Z:.
std::string windows_path(const char* host_path) {
    return std::string("Z:") + host_path;
}

std::string base64(std::string_view text) {
    static constexpr char k_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < text.size(); i += 3) {
        const std::size_t left = text.size() - i;
        std::uint32_t chunk = static_cast<unsigned char>(text[i]) << 16;
        chunk |= left > 1 ? static_cast<unsigned char>(text[i + 1]) << 8 : 0;
        chunk |= left > 2 ? static_cast<unsigned char>(text[i + 2]) : 0;
        out += k_alphabet[(chunk >> 18) & 63];
        out += k_alphabet[(chunk >> 12) & 63];
        out += left > 1 ? k_alphabet[(chunk >> 6) & 63] : '=';
        out += left > 2 ? k_alphabet[chunk & 63] : '=';
    }
    return out;
}

// The metadata document of a Windows pool instance whose userData holds the pool config `pool`.
std::string imds_document(const std::string& pool) {
    return R"({"compute": {"name": "pool_4", "osType": "Windows", "tagsList": [], "userData": ")" +
           base64(R"({"dsvmPool": )" + pool + "}") +
           R"(", "vmId": "02aab8a4-74ef-476e-8182-f6d2ba4166a6"}})";
}

CommandResult run(const std::vector<std::string>& argv, std::string_view input = {}) {
    SystemProcessRunner runner;
    auto ran = runner.run(argv, input, std::chrono::seconds(60));
    REQUIRE(ran);
    return *ran;
}

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("windows exe: version and --help run, and --help names the Windows root", "[agent-exe]") {
    const std::string exe = windows_path(DSVM_AGENT_EXE);
    const CommandResult version = run({exe, "version"});
    INFO(version.err);
    CHECK(version.exit_code == 0);
    CHECK(contains(version.out, DSVM_AGENT_VERSION));

    const CommandResult help = run({exe, "--help"});
    INFO(help.err);
    CHECK(help.exit_code == 0);
    CHECK(contains(help.out, "reconcile"));
    CHECK(contains(help.out, "adduser"));
    CHECK(contains(help.out, "default C:/ProgramData/dsvm-agent"));

    // `run` is the service's: from a console it says how to start the service.
    const CommandResult daemon = run({exe, "run"});
    CHECK(daemon.exit_code == 2);
    CHECK(contains(daemon.err, "sc.exe start dsvm-agent"));
}

TEST_CASE("windows exe: a dry run lists the mapping, the users' homes and links, and shows no key",
          "[agent-exe]") {
    const std::string exe = windows_path(DSVM_AGENT_FAKES_EXE);
    const std::string key = "c3RvcmFnZS1rZXktZm9yLWEtZHJ5LXJ1bi0wMTIzNDU2Nzg5YWJjZGVm+/==";
    TemporaryDirectory root;

    const CommandResult set =
        run({exe, "--root", root.path(), "credentials", "set", "acct", "--key-stdin"}, key + "\n");
    INFO(set.out << set.err);
    REQUIRE(set.exit_code == 0);

    LoopbackServer imds;
    const std::string pool =
        R"({"share": {"source": "//acct.file.core.windows.net/pool", "smbAccess": "shared"},
            "users": [{"name": "alice", "sshKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOVBMq5Mpj6TIleWKV4Qi3ll8n4jG+wePC90IL4Y6klz alice@laptop"]},
                      {"name": "bob", "sudo": true}]})";
    // One answer per pass: the metadata client asks once when it is answered.
    imds.enqueue({200, imds_document(pool)});
    const CommandResult dry =
        run({exe, "--root", root.path(), "--imds", imds.base_url(), "reconcile", "--dry-run"});
    INFO(dry.out << dry.err);
    CHECK(dry.exit_code == 0);
    CHECK_FALSE(imds.requests().empty());
    CHECK(contains(dry.out, "map //acct.file.core.windows.net/pool"));
    CHECK(contains(dry.out, "SMB global mapping"));
    CHECK(contains(dry.out, "alice"));
    CHECK(contains(dry.out, "bob"));
    CHECK(contains(dry.out,
                   "notebooks/remote to \\\\acct.file.core.windows.net\\pool\\notebooks\\alice"));
    CHECK_FALSE(contains(dry.out + dry.err, key));
    CHECK_FALSE(contains(dry.out + dry.err, key.substr(0, 16)));
    // A dry run writes nothing, not even the status file.
    CHECK_FALSE(path_exists(root / "var/lib/dsvm-agent/status.json"));

    // A pass under a --root other than the agent's own maps nothing and creates no account: the
    // mappings and accounts are the machine's.
    imds.enqueue({200, imds_document(pool)});
    const CommandResult pass =
        run({exe, "--root", root.path(), "--imds", imds.base_url(), "reconcile"});
    INFO(pass.out << pass.err);
    CHECK(pass.exit_code == 1);
    CHECK(contains(pass.out + pass.err, "is the machine's, not --root's"));
    CHECK_FALSE(contains(pass.out + pass.err, "create user alice"));
    CHECK_FALSE(contains(pass.out + pass.err, key));

    // Without smbAccess "shared" the pool cannot be served by a Windows instance: refused with
    // the setting named, exit 2.
    const std::string per_user = R"({"share": {"source": "//acct.file.core.windows.net/pool"}})";
    imds.enqueue({200, imds_document(per_user)});
    const CommandResult refused =
        run({exe, "--root", root.path(), "--imds", imds.base_url(), "reconcile", "--dry-run"});
    INFO(refused.out << refused.err);
    CHECK(refused.exit_code == 2);
    CHECK(contains(refused.out + refused.err, "smbAccess"));
}
