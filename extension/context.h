// What one extension command works with: the handler's files, the request, the process seam and
// the steps it reports. Shared by the commands in handler.cpp and enable in enable.cpp; not part
// of the agent's interface.
#pragma once

#include <spdlog/spdlog.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/fs.h"
#include "extension/handler.h"
#include "extension/record.h"
#include "extension/service.h"
#include "extension/settings.h"
#include "extension/status.h"

namespace dsvm::extension {

// The steps of one operation: the status file's substatus, and its message when all went well.
class Steps {
  public:
    void add(std::string name, HandlerStatus status, std::string message) {
        if (status == HandlerStatus::Warning) {
            spdlog::warn("{}", message);
        } else {
            spdlog::info("{}", message);
        }
        m_steps.push_back({std::move(name), status, std::move(message)});
    }
    const std::vector<SubStatus>& all() const { return m_steps; }
    std::string summary() const {
        std::string text;
        for (const auto& step : m_steps) {
            text += (text.empty() ? "" : "; ") + step.message;
        }
        return text;
    }

  private:
    std::vector<SubStatus> m_steps;
};

// The handler directory, its environment and the settings file this command acts on.
struct Handler {
    std::string dir;
    HandlerEnvironment environment;
    std::optional<SettingsChoice> settings;
};

// One command's inputs and seams; `steps` collects what it did, for the status file.
struct Context {
    const Root& root;
    const ExtensionRequest& request;
    const Handler& handler;
    const ExtensionPorts& ports;
    Steps& steps;

    ServiceControl& service() const { return ports.service; }
    Clock& clock() const { return ports.clock; }
    std::string record_name() const { return request.state_dir + "/" + std::string(k_record_file); }
};

// The record of what enable wrote; an empty one when there is none yet.
inline Result<ExtensionRecord> load_record(const Context& context) {
    auto text = read_file_if_exists(context.root.path(context.record_name()));
    if (!text) {
        return text.error();
    }
    if (!text->found) {
        return ExtensionRecord{};
    }
    return parse_record(text->text, context.record_name());
}

}  // namespace dsvm::extension
