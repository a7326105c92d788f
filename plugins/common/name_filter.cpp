#include "common/name_filter.hpp"

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

}  // namespace dmon::plugins
