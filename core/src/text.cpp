#include "dmon/core/text.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>

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

std::optional<int64_t> parse_time_utc(std::string_view text) {
    const std::string copy(text.substr(0, 64));
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, consumed = 0;
    if (text.size() > 40 ||
        std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d%n", &year, &month, &day, &hour, &minute,
                    &consumed) != 5 ||
        year < 1 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59)
        return std::nullopt;
    std::string_view rest = text.substr(static_cast<size_t>(consumed));
    int64_t nanos = 0;  // seconds and their fraction
    if (!rest.empty() && rest.front() == ':') {
        rest.remove_prefix(1);
        if (rest.size() < 2 || !std::isdigit(static_cast<unsigned char>(rest[0])) ||
            !std::isdigit(static_cast<unsigned char>(rest[1])))
            return std::nullopt;
        const int second = (rest[0] - '0') * 10 + (rest[1] - '0');
        if (second > 60)
            return std::nullopt;
        nanos = second * 1'000'000'000LL;
        rest.remove_prefix(2);
        if (!rest.empty() && rest.front() == '.') {
            rest.remove_prefix(1);
            int64_t scale = 100'000'000;
            size_t digits = 0;
            while (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest.front()))) {
                nanos += (rest.front() - '0') * scale;
                scale /= 10;
                rest.remove_prefix(1);
                ++digits;
            }
            if (digits == 0)
                return std::nullopt;
        }
    }
    if (rest == "Z")
        rest.remove_prefix(1);
    if (!rest.empty())
        return std::nullopt;
    // Days from the civil date (Howard Hinnant's algorithm): no time zone involved.
    const int y = year - (month <= 2 ? 1 : 0);
    const int era = (y >= 0 ? y : y - 399) / 400;
    const int yoe = y - era * 400;
    const int doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    const int64_t days = static_cast<int64_t>(era) * 146097 + doe - 719468;
    // ns since the epoch fit int64 from 1677 to 2262: outside, nullopt rather than overflow.
    const __int128 ns =
        (static_cast<__int128>((days * 24 + hour) * 60 + minute)) * 60'000'000'000LL + nanos;
    if (ns > std::numeric_limits<int64_t>::max() || ns < std::numeric_limits<int64_t>::min())
        return std::nullopt;
    return static_cast<int64_t>(ns);
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
