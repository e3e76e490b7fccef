#include "cli/credentials_command.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/secret_input.h"
#include "common/fd.h"
#include "common/file_mode.h"
#include "common/fs.h"
#include "common/secret.h"
#include "common/text.h"
#include "mount/credentials.h"

namespace dsvm::cli {

using namespace dsvm::mount;

namespace {

// Exit status and message for an error, through the CLI's logger.
int report(const Error& error) {
    spdlog::error("{}", printable_line(error.message));
    return exit_status_for(error);
}

std::string state_of(const CredentialsFile& file) {
    return file.secure ? std::string("ok") : "NOT USED: " + file.problem;
}

std::string octal(FileMode mode) {
    return fmt::format("{:04o}", mode & 07777);
}

void print_table(const std::vector<CredentialsFile>& files) {
    size_t name_width = 4;
    size_t path_width = 4;
    for (const auto& file : files) {
        name_width = std::max(name_width, file.name.size());
        path_width = std::max(path_width, file.path.size());
    }
    fmt::print("{:<{}}  {:<{}}  {:<4}  {:>5}  {}\n", "NAME", name_width, "FILE", path_width, "MODE",
               "OWNER", "STATE");
    for (const auto& file : files) {
        fmt::print("{:<{}}  {:<{}}  {:<4}  {:>5}  {}\n", file.name, name_width, file.path,
                   path_width, octal(file.mode), file.owner, state_of(file));
    }
}

}  // namespace

int credentials_set(const Root& root, const std::string& name, const std::string& username,
                    bool key_stdin) {
    if (!key_stdin) {
        return report(
            invalid("the key is read from standard input only, never from the command "
                    "line: run `dsvm-agent credentials set " +
                    name + " --key-stdin`"));
    }
    // Refuse a bad name before anyone types or pipes a key.
    if (auto checked = check_credentials_name(name); !checked) {
        return report(checked.error());
    }
    if (auto checked = check_credentials_name(username); !checked) {
        return report(with_context("--username", checked.error()));
    }
    std::string key;
    // Reserved up front so the key is never copied into a buffer we cannot wipe.
    key.reserve(k_secret_capacity);
    ScopeGuard wipe([&] { wipe_bytes(key.data(), key.size()); });
    if (auto got = read_secret(key, "Storage key for " + name + ": ", 4096, "key"); !got) {
        return report(got.error());
    }
    if (auto written = write_credentials(root, name, username, key); !written) {
        return report(written.error());
    }
    fmt::print(
        "stored credentials for {} in {} (mode 0600); the next pass remounts shares that use "
        "them\n",
        name, credentials_path(name));
    return 0;
}

int credentials_list(const Root& root, bool as_json) {
    auto files = list_credentials(root);
    if (!files) {
        return report(files.error());
    }
    if (as_json) {
        auto out = nlohmann::json::array();
        for (const auto& file : *files) {
            out.push_back({{"name", file.name},
                           {"path", file.path},
                           {"mode", octal(file.mode)},
                           {"owner", file.owner},
                           {"secure", file.secure},
                           {"problem", file.problem}});
        }
        fmt::print("{}\n", out.dump(2));
        return 0;
    }
    if (files->empty()) {
        fmt::print("no credentials stored in {}\n", k_credentials_dir);
        return 0;
    }
    print_table(*files);
    return 0;
}

}  // namespace dsvm::cli
