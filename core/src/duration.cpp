#include "dmon/core/duration.hpp"

#include <charconv>
#include <cmath>

namespace dmon::core {

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
    while (!text.empty() && text.front() == ' ')
        text.remove_prefix(1);
    while (!text.empty() && text.back() == ' ')
        text.remove_suffix(1);
    if (text.empty())
        return std::nullopt;
    double number = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec != std::errc{} || !std::isfinite(number) || number <= 0)
        return std::nullopt;
    const std::string_view unit(end, text.data() + text.size() - end);
    double scale = 0;
    if (unit.empty() || unit == "s") {
        scale = 1e9;
    } else if (unit == "ms") {
        scale = 1e6;
    } else if (unit == "us") {
        scale = 1e3;
    } else if (unit == "m") {
        scale = 60e9;
    } else if (unit == "h") {
        scale = 3600e9;
    } else if (unit == "d") {
        scale = 86400e9;
    } else {
        return std::nullopt;
    }
    const double ns = number * scale;
    if (ns < 1 || ns > 9.2e18)
        return std::nullopt;
    return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(ns)));
}

std::string format_duration(std::chrono::nanoseconds duration) {
    struct Unit {
        int64_t ns;
        const char* suffix;
    };
    static constexpr Unit units[] = {{86400'000'000'000, "d"}, {3600'000'000'000, "h"},
                                     {60'000'000'000, "m"},    {1'000'000'000, "s"},
                                     {1'000'000, "ms"},        {1'000, "us"}};
    const int64_t ns = duration.count();
    for (const Unit& unit : units) {
        if (ns != 0 && ns % unit.ns == 0)
            return std::to_string(ns / unit.ns) + unit.suffix;
    }
    return std::to_string(ns) + "ns";
}

}  // namespace dmon::core
