#include "dmon/core/logging.hpp"
#include "dmon/core/service_manager.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <cstdio>
#include <mutex>

namespace dmon::core {
namespace {

// Standard error when the journal reads it: each line starts with its syslog priority ("<3>" an
// error, "<4>" a warning, "<6>" information, "<7>" debug), which the journal takes off and keeps
// as the entry's priority (`journalctl -p warning` shows warnings and worse). No time stamp: the
// journal has its own.
class JournalStderrSink : public spdlog::sinks::base_sink<std::mutex> {
  protected:
    void sink_it_(const spdlog::details::log_msg& message) override {
        spdlog::memory_buf_t text;
        formatter_->format(message, text);
        const char* prefix = "<6>";
        switch (message.level) {
            case spdlog::level::trace:
            case spdlog::level::debug:
                prefix = "<7>";
                break;
            case spdlog::level::warn:
                prefix = "<4>";
                break;
            case spdlog::level::err:
                prefix = "<3>";
                break;
            case spdlog::level::critical:
                prefix = "<2>";
                break;
            default:
                break;
        }
        std::fputs(prefix, stderr);
        std::fwrite(text.data(), 1, text.size(), stderr);
    }
    void flush_() override { std::fflush(stderr); }
};

const char* pattern_for_stderr() {
    return stderr_is_journal() ? "%v" : "%Y-%m-%dT%H:%M:%S.%e %l %v";
}

std::shared_ptr<spdlog::sinks::sink> stderr_sink() {
    if (stderr_is_journal())
        return std::make_shared<JournalStderrSink>();
    return std::make_shared<spdlog::sinks::stderr_sink_mt>();
}

std::shared_ptr<spdlog::logger> make_logger() {
    auto log = std::make_shared<spdlog::logger>("dmon", stderr_sink());
    log->set_pattern(pattern_for_stderr());
    log->set_level(spdlog::level::info);
    log->flush_on(spdlog::level::trace);  // stderr: every line as it happens
    return log;
}
std::shared_ptr<spdlog::logger>& instance() {
    static std::shared_ptr<spdlog::logger> log = make_logger();
    return log;
}
}  // namespace

spdlog::logger& logger() {
    return *instance();
}

bool set_log_level(const std::string& level) {
    const auto parsed = spdlog::level::from_str(level);
    if (parsed == spdlog::level::off && level != "off")
        return false;
    instance()->set_level(parsed);
    return true;
}

void set_log_sink(std::shared_ptr<spdlog::sinks::sink> sink) {
    auto& log = instance();
    auto replacement = std::make_shared<spdlog::logger>("dmon", std::move(sink));
    replacement->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
    replacement->set_level(log->level());
    replacement->flush_on(spdlog::level::trace);
    log = replacement;
}

}  // namespace dmon::core
