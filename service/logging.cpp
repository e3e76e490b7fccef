#include "service/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <string>

namespace dsvm::service {

namespace {

// "%*": the level as the target wants it: "<3>" for journald (sd-daemon(3) prefixes), a word
// before warnings and errors elsewhere, nothing before ordinary information.
class LevelPrefix final : public spdlog::custom_flag_formatter {
  public:
    explicit LevelPrefix(bool journal) : m_journal(journal) {}

    void format(const spdlog::details::log_msg& message, const std::tm&,
                spdlog::memory_buf_t& destination) override {
        const std::string_view prefix =
            m_journal ? journal_prefix(message.level) : word_prefix(message.level);
        destination.append(prefix.data(), prefix.data() + prefix.size());
    }

    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<LevelPrefix>(m_journal);
    }

  private:
    static std::string_view journal_prefix(spdlog::level::level_enum level) {
        switch (level) {
            case spdlog::level::critical:
                return "<2>";
            case spdlog::level::err:
                return "<3>";
            case spdlog::level::warn:
                return "<4>";
            case spdlog::level::info:
                return "<6>";
            default:
                return "<7>";
        }
    }
    static std::string_view word_prefix(spdlog::level::level_enum level) {
        switch (level) {
            case spdlog::level::critical:
            case spdlog::level::err:
                return "error: ";
            case spdlog::level::warn:
                return "warning: ";
            case spdlog::level::info:
                return "";
            default:
                return "debug: ";
        }
    }

    bool m_journal;
};

}  // namespace

Result<spdlog::level::level_enum> parse_log_level(std::string_view text) {
    if (text == "error") {
        return spdlog::level::err;
    }
    if (text == "warning" || text == "warn") {
        return spdlog::level::warn;
    }
    if (text == "info") {
        return spdlog::level::info;
    }
    if (text == "debug") {
        return spdlog::level::debug;
    }
    if (text == "trace") {
        return spdlog::level::trace;
    }
    return invalid("--log-level '" + std::string(text) +
                   "' is not a level: use error, warning, info, debug or trace");
}

void setup_logging(spdlog::level::level_enum level, LogTarget target, const std::string& file) {
    spdlog::sink_ptr sink;
    if (target == LogTarget::File) {
        try {
            sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file);
        } catch (const spdlog::spdlog_ex&) {
            target = LogTarget::Plain;
        }
    }
    if (!sink) {
        sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(
            target == LogTarget::Terminal ? spdlog::color_mode::automatic
                                          : spdlog::color_mode::never);
    }
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<LevelPrefix>('*', target == LogTarget::Journal);
    switch (target) {
        case LogTarget::Journal:
            formatter->set_pattern("%*%v");
            break;
        case LogTarget::Terminal:
            formatter->set_pattern("%^%*%$%v");
            break;
        case LogTarget::Plain:
        case LogTarget::File:
            formatter->set_pattern("%Y-%m-%dT%H:%M:%S%z dsvm-agent[%P]: %*%v");
            break;
    }
    sink->set_formatter(std::move(formatter));
    auto logger = std::make_shared<spdlog::logger>("dsvm-agent", std::move(sink));
    logger->set_level(level);
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace dsvm::service
