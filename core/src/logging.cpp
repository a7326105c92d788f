#include "dmon/core/logging.hpp"

#include <spdlog/sinks/stdout_sinks.h>

namespace dmon::core {
namespace {
std::shared_ptr<spdlog::logger> make_logger() {
    auto log =
        std::make_shared<spdlog::logger>("dmon", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    log->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
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
