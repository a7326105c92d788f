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

}  // namespace dmon::core
