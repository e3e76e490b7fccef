#include "extension/handler.h"

#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <memory>
#include <utility>
#include <vector>

#include "common/fs.h"
#include "common/text.h"
#include "extension/context.h"
#include "extension/enable.h"
#include "extension/files.h"
#include "mount/credentials.h"

namespace dsvm::extension {

using namespace dsvm::mount;

namespace {

constexpr std::string_view k_environment_file = "HandlerEnvironment.json";
constexpr std::string_view k_config_dir = "/etc/dsvm-agent";
constexpr const char* k_log_file = "dsvm-agent-extension.log";

// The names in a directory; none when it is missing or unreadable (the caller reports the file
// it then cannot find).
std::vector<std::string> names_in(const std::string& dir) {
    std::vector<std::string> names;
    std::error_code error;
    for (std::filesystem::directory_iterator entry(dir, error), end; !error && entry != end;
         entry.increment(error)) {
        const auto name = entry->path().filename().u8string();
        names.emplace_back(name.begin(), name.end());
    }
    return names;
}

Result<Handler> open_handler(const ExtensionRequest& request) {
    Handler handler;
    handler.dir = request.handler_dir;
    if (handler.dir.empty()) {
        std::error_code error;
        const auto cwd = std::filesystem::current_path(error).u8string();
        if (error) {
            return failure("cannot find the working directory: " + error.message());
        }
        handler.dir.assign(cwd.begin(), cwd.end());
    }
    const std::string file = handler.dir + "/" + std::string(k_environment_file);
    auto text = read_file_if_exists(file);
    if (!text) {
        return text.error();
    }
    if (!text->found) {
        return invalid("no " + std::string(k_environment_file) + " in " + handler.dir +
                       ": run the command in the extension's handler directory, as the guest "
                       "agent does, or pass --handler-dir DIR");
    }
    auto environment = parse_handler_environment(text->text);
    if (!environment) {
        return with_context(handler.dir, environment.error());
    }
    handler.environment = std::move(environment).value();
    auto choice =
        choose_settings(request.sequence_env, names_in(handler.environment.config_folder));
    if (!choice) {
        return choice.error();
    }
    handler.settings = *choice;
    return handler;
}

// Adds the handler's log file to the logger for the command's lifetime; stderr stays (the guest
// agent keeps the tail of a command's output in its own log).
class ExtensionLog {
  public:
    explicit ExtensionLog(const std::string& folder) {
        if (folder.empty()) {
            return;
        }
        try {
            if (!make_directories(folder, 0755)) {
                throw spdlog::spdlog_ex("cannot create the folder");
            }
            m_sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(folder + "/" + k_log_file);
            m_sink->set_pattern("%Y-%m-%dT%H:%M:%S%z %l: %v");
            spdlog::default_logger()->sinks().push_back(m_sink);
        } catch (const spdlog::spdlog_ex& error) {
            spdlog::warn("cannot log to {}: {}; logging to standard error only", folder,
                         error.what());
        }
    }
    ~ExtensionLog() {
        if (m_sink) {
            auto& sinks = spdlog::default_logger()->sinks();
            sinks.erase(std::remove(sinks.begin(), sinks.end(), m_sink), sinks.end());
        }
    }
    ExtensionLog(const ExtensionLog&) = delete;
    ExtensionLog& operator=(const ExtensionLog&) = delete;

  private:
    std::shared_ptr<spdlog::sinks::sink> m_sink;
};

Result<void> install(const Context& context) {
    const std::string dir(k_config_dir);
    if (auto made = make_directories(context.root.path(dir), 0755); !made) {
        return made;
    }
    if (auto made = prepare_private_directory(context.root, std::string(k_credentials_dir));
        !made) {
        return made;
    }
    context.steps.add("install", HandlerStatus::Success,
                      dir + " (0755) and " + std::string(k_credentials_dir) +
                          " (root only, 0700) are ready; enable applies the settings");
    return {};
}

Result<void> disable(const Context& context) {
    auto stopped = context.service().stop();
    if (!stopped) {
        return stopped.error();
    }
    context.steps.add("service", HandlerStatus::Success,
                      *stopped + "; the config is kept for the next enable");
    return {};
}

// The guest agent updates a handler as: old disable, new update, old uninstall, new install, new
// enable (on a downgrade the old version runs update). The package and the config are shared by
// both versions, so `update` leaves this marker and the old version's uninstall (and the handler's
// uninstall.sh, which would remove the package) keep everything for the new version; its enable
// removes the marker.
constexpr std::string_view k_update_marker = "extension-update";
constexpr std::time_t k_update_window_seconds = 3600;

// The clock's wall time as time(2) gives it.
std::time_t unix_seconds(Clock& clock) {
    return std::chrono::system_clock::to_time_t(clock.wall_now());
}

std::string update_marker(const Context& context) {
    return context.root.path(context.request.state_dir + "/" + std::string(k_update_marker));
}

Result<void> update(const Context& context) {
    const std::string marker = update_marker(context);
    if (auto made = make_directories(context.root.path(context.request.state_dir), 0700); !made) {
        return made;
    }
    if (auto written =
            write_file_atomic(marker, std::to_string(unix_seconds(context.clock())) + "\n", 0600);
        !written) {
        return written;
    }
    context.steps.add("update", HandlerStatus::Success,
                      "the old version's uninstall will keep pool.json, the credentials and the "
                      "package; the new version's enable applies the settings");
    return {};
}

// Whether an update started within the last hour (an older marker is stale and removed).
bool update_in_progress(const Context& context) {
    const std::string marker = update_marker(context);
    const auto modified = modified_unix_seconds(marker);
    if (!modified) {
        return false;
    }
    if (unix_seconds(context.clock()) - *modified < k_update_window_seconds) {
        return true;
    }
    (void)remove_file_if_exists(marker);
    return false;
}

Result<void> uninstall(const Context& context) {
    if (update_in_progress(context)) {
        context.steps.add("update", HandlerStatus::Success,
                          "an update is in progress: pool.json, the credentials and the package "
                          "are kept for the new version");
        return {};
    }
    auto stopped = context.service().stop();
    if (!stopped) {
        return stopped.error();
    }
    context.steps.add("service", HandlerStatus::Success, *stopped);
    auto record = load_record(context);
    if (!record) {
        return record.error();
    }
    const Root& root = context.root;
    if (record->config_file.empty() && record->credentials.empty() &&
        record->registry_keys.empty()) {
        context.steps.add(
            "pool config", HandlerStatus::Success,
            "nothing to remove: enable has recorded nothing in " + context.record_name());
    }
    if (!record->config_file.empty()) {
        const std::string& name = record->config_file;
        auto current = read_file_if_exists(root.path(name));
        if (!current) {
            return current.error();
        }
        if (!current->found) {
            context.steps.add("pool config", HandlerStatus::Success, name + " was already gone");
        } else if (sha256_hex(current->text) != record->config_sha256) {
            context.steps.add("pool config", HandlerStatus::Warning,
                              name + " kept: it changed after enable wrote it");
        } else if (auto removed = remove_file_if_exists(root.path(name)); !removed) {
            return removed;
        } else {
            context.steps.add("pool config", HandlerStatus::Success, name + " removed");
        }
    }
    for (const auto& name : record->credentials) {
        if (auto removed = remove_file_if_exists(root.path(credentials_path(name))); !removed) {
            return removed;
        }
        context.steps.add("credentials", HandlerStatus::Success,
                          credentials_path(name) + " removed");
    }
    // The record lists both registry key files once enable stored a key; only those present are
    // reported (enable removes the previous key's file when a rotation ends).
    for (const auto& path : record->registry_keys) {
        // Removed whether or not it could be looked at; reported when it was there.
        const bool present = path_exists(root.path(path));
        if (auto removed = remove_file_if_exists(root.path(path)); !removed) {
            return removed;
        }
        if (present) {
            context.steps.add("registry key", HandlerStatus::Success, path + " removed");
        }
    }
    if (auto removed = remove_file_if_exists(root.path(context.record_name())); !removed) {
        return removed;
    }
    context.steps.add("kept", HandlerStatus::Success,
                      "pool users, their home directories and the share's data are kept");
    return {};
}

Result<void> dispatch(const Context& context) {
    switch (context.request.operation) {
        case ExtensionOperation::Install:
            return install(context);
        case ExtensionOperation::Enable: {
            auto enabled = enable(context);
            if (enabled) {
                (void)remove_file_if_exists(update_marker(context));
            }
            return enabled;
        }
        case ExtensionOperation::Disable:
            return disable(context);
        case ExtensionOperation::Uninstall:
            return uninstall(context);
        case ExtensionOperation::Update:
            return update(context);
    }
    return invalid("unknown extension operation");
}

}  // namespace

std::string_view to_string(ExtensionOperation operation) {
    switch (operation) {
        case ExtensionOperation::Install:
            return "Install";
        case ExtensionOperation::Enable:
            return "Enable";
        case ExtensionOperation::Disable:
            return "Disable";
        case ExtensionOperation::Uninstall:
            return "Uninstall";
        case ExtensionOperation::Update:
            return "Update";
    }
    return "Unknown";
}

int run_extension(const Root& root, const ExtensionRequest& request, const ExtensionPorts& ports) {
    Clock& clock = ports.clock;
    const std::string operation = ascii_lower(to_string(request.operation));
    auto handler = open_handler(request);
    if (!handler) {
        spdlog::error("extension {}: {}", operation, handler.error().message);
        return exit_status_for(handler.error());
    }
    ExtensionLog log(handler->environment.log_folder);
    const auto& settings = handler->settings;
    spdlog::info("extension {}: handler directory {}, {}", operation, handler->dir,
                 settings ? "sequence number " + std::to_string(settings->sequence)
                          : std::string("no sequence number"));

    ExtensionStatus status;
    status.name = handler->environment.name;
    status.operation = std::string(to_string(request.operation));
    // install and update report only a failure, and on success remove the sequence number's
    // status file if there is one. That file is what the guest agent uploads for the settings,
    // and an enable follows for the same sequence number: if it then failed before it could
    // write its own, an "Install: success" — or, in an update, the old version's "Disable:
    // success", which the guest agent copies into the new handler directory — would stand for
    // the settings and hide the failure. Without a file the guest agent reports the settings
    // as transitioning and the handler NotReady with the command's error.
    const bool reports_success = request.operation != ExtensionOperation::Install &&
                                 request.operation != ExtensionOperation::Update;
    const auto report = [&]() -> Result<void> {
        if (!settings) {
            return {};
        }
        if (!reports_success && status.status == HandlerStatus::Success) {
            return remove_status(handler->environment.status_folder, settings->sequence);
        }
        return write_status(handler->environment.status_folder, settings->sequence, status,
                            format_utc(clock.wall_now()));
    };
    if (request.operation == ExtensionOperation::Enable && settings) {
        status.message = "applying the settings";
        if (auto written = report(); !written) {
            spdlog::error("extension {}: cannot write the status file, so nothing was changed: {}",
                          operation, written.error().message);
            return 1;
        }
    }

    Steps steps;
    const Context context{root, request, *handler, ports, steps};
    const Result<void> result = dispatch(context);
    status.substatus = steps.all();
    if (result) {
        status.status = HandlerStatus::Success;
        status.code = 0;
        status.message = steps.summary();
    } else {
        status.status = HandlerStatus::Error;
        status.code = exit_status_for(result.error());
        status.message = result.error().message;
        spdlog::error("extension {}: {}", operation, result.error().message);
    }
    if (auto written = report(); !written) {
        spdlog::error("extension {}: cannot update the status file: {}", operation,
                      written.error().message);
        return result ? 1 : status.code;
    }
    if (result) {
        fmt::print("extension {}: {}\n", operation, status.message);
    }
    return status.code;
}

}  // namespace dsvm::extension
