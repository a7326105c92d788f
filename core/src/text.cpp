#include "dmon/core/text.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>

namespace dmon::core {

std::string format_time_utc(int64_t timestamp_ns) {
    const std::time_t seconds = static_cast<std::time_t>(timestamp_ns / 1'000'000'000);
    const int millis = static_cast<int>((timestamp_ns / 1'000'000) % 1000);
    std::tm utc{};
#ifdef _WIN32
    gmtime_s(&utc, &seconds);
#else
    gmtime_r(&seconds, &utc);
#endif
    char buffer[40];
    const size_t n = std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%S", &utc);
    char tail[16];
    std::snprintf(tail, sizeof(tail), ".%03dZ", millis);
    return std::string(buffer, n) + tail;
}

std::string format_bytes(double bytes) {
    static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int unit = 0;
    while (std::fabs(bytes) >= 1024 && unit < 4) {
        bytes /= 1024;
        ++unit;
    }
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
    return buffer;
}

}  // namespace dmon::core
