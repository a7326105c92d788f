#pragma once
// The unit of each metric dmon ships, and numbers as people read them: 1.50 GiB, 12.3 MiB/s,
// 23.4 %. One owner for the table output of dmonctl and for the page (the API hands the unit
// to the page, which formats with the same rules).
#include <string>
#include <string_view>
#include <vector>

namespace dmon::ctl {

// The unit of a shipped metric (dmon/metric_catalog.hpp), "" for one dmon does not know.
std::string_view metric_unit(std::string_view metric);

// Three significant digits, in the unit's scale: bytes in KiB/MiB/GiB/TiB, ratios as %,
// seconds as s/ms/µs, counts with k/M/G; `per_second` appends "/s" (a counter's rate), but
// seconds per second are a share (of a CPU, of a device's time) and shown in %.
std::string format_value(double value, std::string_view unit, bool per_second = false);

// The closest of `candidates` to `word` (Levenshtein distance), for "did you mean"; the
// closest first, far-off ones left out.
template <typename Range>
std::vector<std::string> closest_names(std::string_view word, const Range& candidates,
                                       size_t count = 3);
// "a, b, c"
std::string joined(const std::vector<std::string>& names);

size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace dmon::ctl

#include <algorithm>

namespace dmon::ctl {
template <typename Range>
std::vector<std::string> closest_names(std::string_view word, const Range& candidates,
                                       size_t count) {
    std::vector<std::pair<size_t, std::string>> ranked;
    for (const auto& candidate : candidates) {
        // A name that contains the word ("cpu" in "system.cpu.time") is as close as one edit.
        const std::string name(candidate);
        const size_t distance =
            name.find(word) != std::string::npos ? 1 : edit_distance(word, name);
        ranked.emplace_back(distance, name);
    }
    std::sort(ranked.begin(), ranked.end());
    std::vector<std::string> out;
    for (size_t i = 0; i < ranked.size() && i < count; ++i) {
        // Far-off names are no suggestion: at most half the word changed.
        if (ranked[i].first > std::max<size_t>(2, word.size() / 3) && i > 0)
            break;
        out.push_back(ranked[i].second);
    }
    return out;
}
}  // namespace dmon::ctl
