#include "dmon/core/outage_log.hpp"

#include <algorithm>
#include <cstdio>

namespace dmon::core {
namespace {
std::string seconds(OutageLog::Clock::duration duration) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f s", std::chrono::duration<double>(duration).count());
    return text;
}
}  // namespace

std::chrono::milliseconds retry_delay(int failures, double random01,
                                      std::chrono::milliseconds cap) {
    const int shift = std::clamp(failures - 1, 0, 20);
    const auto full = std::min(std::chrono::milliseconds(int64_t{100} << shift), cap);
    const double jitter = std::clamp(random01, 0.0, 1.0);
    return std::chrono::milliseconds(
        full.count() / 2 + static_cast<int64_t>(static_cast<double>(full.count()) / 2 * jitter));
}

std::optional<std::string> OutageLog::failed(Clock::time_point now, const std::string& error,
                                             const std::string& keeping) {
    if (attempts_++ == 0) {
        started_ = now;
        last_line_ = now;
        dropped_ = 0;
        return "write failed: " + error + "; keeping " + keeping + " and retrying";
    }
    if (now - last_line_ < summary_every_)
        return std::nullopt;
    last_line_ = now;
    return "still failing after " + seconds(now - started_) + " (" + std::to_string(attempts_) +
           " attempts): " + error + "; keeping " + keeping + "; dropped so far " +
           std::to_string(dropped_) + " samples";
}

std::optional<std::string> OutageLog::recovered(Clock::time_point now) {
    if (attempts_ == 0)
        return std::nullopt;
    std::string line = "writing again after " + seconds(now - started_) + " and " +
                       std::to_string(attempts_) + " failed attempt(s); " +
                       std::to_string(dropped_) + " samples dropped during the outage";
    attempts_ = 0;
    dropped_ = 0;
    return line;
}

std::string human_bytes(uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 4) {
        value /= 1024;
        ++unit;
    }
    char text[32];
    if (unit == 0)
        std::snprintf(text, sizeof text, "%llu B", static_cast<unsigned long long>(bytes));
    else
        std::snprintf(text, sizeof text, "%.1f %s", value, units[unit]);
    return text;
}

}  // namespace dmon::core
