#pragma once

#include <charconv>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace dmon::plugins {

// Calls fn(line) for each line of text, without the '\n'.
template <typename Fn>
void for_each_line(std::string_view text, Fn&& fn) {
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string_view::npos)
            end = text.size();
        fn(text.substr(start, end - start));
        start = end + 1;
    }
}

// Splits one line into its whitespace-separated fields.
inline std::vector<std::string_view> split_fields(std::string_view line) {
    std::vector<std::string_view> fields;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
            ++i;
        const size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t')
            ++i;
        if (i > start)
            fields.push_back(line.substr(start, i - start));
    }
    return fields;
}

// Parses a whole field as an unsigned decimal; false for anything else.
inline bool parse_u64(std::string_view field, uint64_t& out) {
    auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), out);
    return ec == std::errc{} && end == field.data() + field.size();
}

// Parses fields[first .. first + out.size()) into out; false if one is missing or not a number.
inline bool parse_u64_fields(const std::vector<std::string_view>& fields, size_t first,
                             std::span<uint64_t> out) {
    if (fields.size() < first + out.size())
        return false;
    for (size_t i = 0; i < out.size(); ++i) {
        if (!parse_u64(fields[first + i], out[i]))
            return false;
    }
    return true;
}

}  // namespace dmon::plugins
