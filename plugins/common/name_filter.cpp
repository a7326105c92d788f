#include "common/name_filter.hpp"

#include <dmon/str.hpp>

#include <algorithm>

namespace dmon::plugins {

bool glob_match(std::string_view pattern, std::string_view text) {
    size_t p = 0, t = 0;
    size_t star = std::string_view::npos, resume = 0;
    while (t < text.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
            ++p;
            ++t;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            resume = t;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            t = ++resume;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*')
        ++p;
    return p == pattern.size();
}

bool NameFilter::accepts(std::string_view name) const {
    for (const auto& pattern : exclude_) {
        if (glob_match(pattern, name))
            return false;
    }
    if (include_.empty())
        return true;
    for (const auto& pattern : include_) {
        if (glob_match(pattern, name))
            return true;
    }
    return false;
}

std::vector<std::string> unmatched_pattern_warnings(std::string_view option,
                                                    const std::vector<std::string>& patterns,
                                                    const std::vector<std::string>& names,
                                                    std::string_view ignore) {
    std::vector<std::string> warnings;
    const auto ignored = [&](std::string_view pattern) {
        size_t start = 0;
        while (start < ignore.size()) {
            size_t comma = ignore.find(',', start);
            if (comma == std::string_view::npos)
                comma = ignore.size();
            if (ignore.substr(start, comma - start) == pattern)
                return true;
            start = comma + 1;
        }
        return false;
    };
    for (const auto& pattern : patterns) {
        if (ignored(pattern) || std::any_of(names.begin(), names.end(), [&](const auto& name) {
                return glob_match(pattern, name);
            })) {
            continue;
        }
        std::string text = "option '" + std::string(option) + "': pattern '" +
                           escape_text(pattern, 100) + "' matches nothing here; there are: ";
        constexpr size_t kShown = 20;
        for (size_t i = 0; i < names.size() && i < kShown; ++i)
            text += (i ? ", " : "") + escape_text(names[i], 100);
        if (names.empty())
            text += "none";
        else if (names.size() > kShown)
            text += ", ... (" + std::to_string(names.size()) + " in all)";
        warnings.push_back(std::move(text));
    }
    return warnings;
}

}  // namespace dmon::plugins
