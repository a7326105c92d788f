#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace dmon::core {

// Parses "250ms", "10s", "5m", "2h", "7d", "1.5s" or a bare number of seconds.
// Returns nullopt for anything else, and for negative or zero durations.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

// The shortest exact spelling of a duration: 1500ms -> "1500ms", 60s -> "1m".
std::string format_duration(std::chrono::nanoseconds duration);

}  // namespace dmon::core
