#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <string_view>
#include <vector>

namespace dmon::core {

// "a, b, c": lists in messages (valid keys, missing callbacks, reload outcomes).
inline std::string join(const std::vector<std::string>& items, std::string_view separator = ", ") {
    std::string text;
    for (const auto& item : items) {
        if (!text.empty())
            text += separator;
        text += item;
    }
    return text;
}

// "2024-11-24T16:00:00.000Z": times in dmonctl output and in `dmonctl status`.
std::string format_time_utc(int64_t timestamp_ns);
// The inverse, for people typing a moment: "2024-11-24T16:00:00Z", seconds optional, a fraction
// of a second allowed, the Z optional (it is always UTC); nullopt for anything else.
std::optional<int64_t> parse_time_utc(std::string_view text);
// "512 B", "1.5 KiB", "3.0 GiB": sizes in logs, `dmonctl status` and `dmonctl top`.
std::string format_bytes(double bytes);

}  // namespace dmon::core
