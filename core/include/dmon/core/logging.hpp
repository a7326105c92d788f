#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace dmon::core {

// The one logger of the host: stderr, one line per event. Every line about a plugin instance
// starts with "[instance]".
spdlog::logger& logger();

// Sets the level ("trace" .. "off"); returns false for an unknown name.
bool set_log_level(const std::string& level);

// Replaces where log lines go (tests capture them).
void set_log_sink(std::shared_ptr<spdlog::sinks::sink> sink);

}  // namespace dmon::core
