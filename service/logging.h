// Logging to stderr with spdlog: short human lines on a terminal, plain lines with syslog level
// prefixes under systemd (journald adds the time and unit), timestamps when piped elsewhere.
#pragma once

#include <spdlog/common.h>

#include <string>
#include <string_view>

#include "common/result.h"

namespace dsvm::service {

// Where the log goes, which the platform tells (linux/: detect_log_target): stderr as a terminal,
// the journal or anything else; or File, a file of its own (a Windows service has no stderr).
enum class LogTarget { Terminal, Journal, Plain, File };

// "error", "warning"/"warn", "info", "debug", "trace"; anything else is Invalid.
Result<spdlog::level::level_enum> parse_log_level(std::string_view text);

// With File, lines are appended to `file` as Plain writes them; a file that cannot be opened
// leaves the log on stderr.
void setup_logging(spdlog::level::level_enum level, LogTarget target, const std::string& file = {});

}  // namespace dsvm::service
