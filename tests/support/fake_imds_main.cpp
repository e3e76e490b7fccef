// dsvm-fake-imds: a metadata service on loopback for the demo and for tests that run the real
// agent binary. It serves a document file (re-read per request, so it can change live).
#include <signal.h>
#include <systemd/sd-daemon.h>

#include <atomic>
#include <charconv>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "common/fs.h"
#include "support/fake_http_server.h"

namespace {

struct Options {
    std::string document;
    std::string port_file;
    std::string env_file;
    std::string token_file;
    long fail_first = 0;
    int fail_status = 410;
};

void print_usage() {
    std::cerr << "usage: dsvm-fake-imds --document FILE [--port-file FILE] [--env-file FILE]\n"
                 "                      [--token-file FILE] [--fail-first N [--fail-status CODE]]\n"
                 "Serves FILE as IMDS /metadata/instance on 127.0.0.1 at an ephemeral port.\n"
                 "--port-file FILE gets the port, --env-file FILE the line\n"
                 "IMDS_URL=http://127.0.0.1:PORT (a systemd EnvironmentFile=); under systemd,\n"
                 "READY=1 follows both, so units ordered after this one can read them.\n"
                 "--fail-first N answers the first N requests with CODE (default 410).\n"
                 "/metadata/identity/oauth2/token answers the content of the --token-file FILE\n"
                 "(re-read per request), or 400 \"Identity not found\" when it is missing.\n";
}

std::optional<long> parse_number(std::string_view text, long low, long high) {
    long value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < low || value > high) {
        return std::nullopt;
    }
    return value;
}

std::optional<Options> parse_arguments(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        if (flag != "--document" && flag != "--port-file" && flag != "--env-file" &&
            flag != "--token-file" && flag != "--fail-first" && flag != "--fail-status") {
            std::cerr << "dsvm-fake-imds: unknown option " << flag << "\n";
            return std::nullopt;
        }
        if (i + 1 >= argc) {
            std::cerr << "dsvm-fake-imds: " << flag << " needs a value\n";
            return std::nullopt;
        }
        const std::string_view value = argv[++i];
        if (flag == "--document") {
            options.document = value;
        } else if (flag == "--port-file") {
            options.port_file = value;
        } else if (flag == "--env-file") {
            options.env_file = value;
        } else if (flag == "--token-file") {
            options.token_file = value;
        } else if (flag == "--fail-first") {
            const auto number = parse_number(value, 0, 1'000'000);
            if (!number) {
                std::cerr << "dsvm-fake-imds: --fail-first " << value
                          << " is not a count from 0 to 1000000\n";
                return std::nullopt;
            }
            options.fail_first = *number;
        } else if (flag == "--fail-status") {
            const auto number = parse_number(value, 100, 599);
            if (!number) {
                std::cerr << "dsvm-fake-imds: --fail-status " << value
                          << " is not an HTTP status from 100 to 599\n";
                return std::nullopt;
            }
            options.fail_status = static_cast<int>(*number);
        }
    }
    if (options.document.empty()) {
        std::cerr << "dsvm-fake-imds: --document is required\n";
        return std::nullopt;
    }
    return options;
}

int serve(const Options& options) {
    // Blocked before the server thread starts so it inherits the mask and sigwait gets them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    dsvm::test::FakeHttpServer server;
    std::atomic<long> served{0};
    server.set_handler([&options, &served](const dsvm::test::RecordedRequest& request) {
        if (request.target.rfind("/metadata/identity/oauth2/token?", 0) == 0) {
            auto token = options.token_file.empty() ? dsvm::Result<std::string>(std::string())
                                                    : dsvm::read_file(options.token_file);
            if (options.token_file.empty() || !token) {
                return dsvm::test::ScriptedResponse{
                    400, R"({"error":"invalid_request","error_description":"Identity not found"})"};
            }
            return dsvm::test::ScriptedResponse{200, std::move(token).value()};
        }
        if (served.fetch_add(1) < options.fail_first) {
            return dsvm::test::ScriptedResponse{
                options.fail_status, R"({"error":"scripted failure from dsvm-fake-imds"})"};
        }
        auto document = dsvm::read_file(options.document);
        if (!document) {
            std::cerr << "dsvm-fake-imds: " << document.error().message << "\n";
            return dsvm::test::ScriptedResponse{500, R"({"error":"document unreadable"})"};
        }
        return dsvm::test::ScriptedResponse{200, std::move(document).value()};
    });

    if (!options.port_file.empty()) {
        auto written =
            dsvm::write_file_atomic(options.port_file, std::to_string(server.port()) + "\n", 0644);
        if (!written) {
            std::cerr << "dsvm-fake-imds: " << written.error().message << "\n";
            return 1;
        }
    }
    if (!options.env_file.empty()) {
        auto written =
            dsvm::write_file_atomic(options.env_file, "IMDS_URL=" + server.base_url() + "\n", 0644);
        if (!written) {
            std::cerr << "dsvm-fake-imds: " << written.error().message << "\n";
            return 1;
        }
    }
    std::cout << "listening on " << server.base_url() << std::endl;
    sd_notify(0, ("READY=1\nSTATUS=listening on " + server.base_url()).c_str());

    int received = 0;
    while (sigwait(&stop_signals, &received) != 0) {
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const auto options = parse_arguments(argc, argv);
    if (!options) {
        print_usage();
        return 2;
    }
    try {
        return serve(*options);
    } catch (const std::exception& error) {
        std::cerr << "dsvm-fake-imds: " << error.what() << "\n";
        return 1;
    }
}
