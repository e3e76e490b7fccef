// Logging to stderr with spdlog: short human lines on a terminal, plain lines with syslog level
// prefixes under systemd (journald adds the time and unit), timestamps when piped elsewhere.
#pragma once

#include <spdlog/common.h>

#include <string_view>

#include "common/result.h"

namespace dsvm::service {

// Where stderr goes, which the platform tells (linux/: detect_log_target).
enum class LogTarget { Terminal, Journal, Plain };

// "error", "warning"/"warn", "info", "debug", "trace"; anything else is Invalid.
Result<spdlog::level::level_enum> parse_log_level(std::string_view text);

void setup_logging(spdlog::level::level_enum level, LogTarget target);

}  // namespace dsvm::service
