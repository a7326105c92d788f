// InfluxDB line protocol, as dmon writes it (docs/wire-format.md):
//
//   system.cpu.utilization,host=web1,cpu=total gauge=0.231 1732468800000000000
//
// measurement = sample name, tags = labels in order, one field whose key is the sample type
// (`gauge` or `counter`), timestamp in ns. Header-only so that the host, every sink and any
// third-party plugin share this one encoder.
#pragma once

#include <dmon/plugin.h>
#include <dmon/str.hpp>

#include <charconv>
#include <cmath>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dmon::line_protocol {

// Escapes the characters line protocol gives meaning to in this position.
inline void append_escaped(std::string& out, std::string_view text, bool escape_equals) {
    for (char c : text) {
        if (c == ',' || c == ' ' || (escape_equals && c == '=') || c == '\\')
            out.push_back('\\');
        if (c == '\n') {
            out.append("\\n");  // a raw newline would end the line
            continue;
        }
        out.push_back(c);
    }
}

inline void append_double(std::string& out, double value) {
    char buffer[32];
    auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
    out.append(buffer, result.ptr);
}

inline void append_int(std::string& out, int64_t value) {
    char buffer[24];
    auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
    out.append(buffer, result.ptr);
}

inline const char* type_field(uint32_t type) {
    return type == DMON_COUNTER ? "counter" : "gauge";
}

// Appends one line (with its trailing '\n'). Returns false and appends nothing for a value
// line protocol cannot carry (NaN, infinity) or an empty name; the caller counts those.
// Labels with an empty value are left out: line protocol has no empty tag values.
inline bool append_sample(std::string& out, const dmon_sample& sample) {
    if (!std::isfinite(sample.value) || sample.name.size == 0)
        return false;
    append_escaped(out, to_view(sample.name), false);
    for (size_t i = 0; i < sample.label_count; ++i) {
        const dmon_label& label = sample.labels[i];
        if (label.key.size == 0 || label.value.size == 0)
            continue;
        out.push_back(',');
        append_escaped(out, to_view(label.key), true);
        out.push_back('=');
        append_escaped(out, to_view(label.value), true);
    }
    out.push_back(' ');
    out.append(type_field(sample.type));
    out.push_back('=');
    append_double(out, sample.value);
    out.push_back(' ');
    append_int(out, sample.timestamp_ns);
    out.push_back('\n');
    return true;
}

// ---- Parsing -------------------------------------------------------------------------------

// One parsed line. Tags keep their order; fields keep numeric ones only (booleans as 1/0);
// string fields are counted in skipped_fields, since a sample is a number.
struct ParsedLine {
    std::string measurement;
    std::vector<std::pair<std::string, std::string>> tags;
    std::vector<std::pair<std::string, double>> fields;
    int64_t timestamp_ns = 0;
    bool has_timestamp = false;
    size_t skipped_fields = 0;
};

namespace detail {

// Reads up to (not including) an unescaped character of `stops`; removes escapes.
inline bool read_token(std::string_view& rest, std::string_view stops, std::string& out) {
    out.clear();
    while (!rest.empty()) {
        const char c = rest.front();
        if (c == '\\' && rest.size() > 1) {
            const char next = rest[1];
            out.push_back(next == 'n' ? '\n' : next);
            rest.remove_prefix(2);
            continue;
        }
        if (stops.find(c) != std::string_view::npos)
            return true;
        out.push_back(c);
        rest.remove_prefix(1);
    }
    return true;
}

inline bool parse_number(std::string_view text, double& out) {
    if (text.empty())
        return false;
    char suffix = text.back();
    if (suffix == 'i' || suffix == 'u')
        text.remove_suffix(1);  // integer / unsigned fields
    if (!text.empty() && text.front() == '+')
        text.remove_prefix(1);
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size() && std::isfinite(out);
}

}  // namespace detail

// Parses one line of line protocol. Returns an empty string on success, else what is wrong.
inline std::string parse_line(std::string_view line, ParsedLine& out) {
    out = ParsedLine{};
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
    std::string_view rest = line;
    detail::read_token(rest, ", ", out.measurement);
    if (out.measurement.empty())
        return "no measurement name";
    std::string key, value;
    while (!rest.empty() && rest.front() == ',') {
        rest.remove_prefix(1);
        detail::read_token(rest, "=, ", key);
        if (rest.empty() || rest.front() != '=' || key.empty())
            return "tag without '=value'";
        rest.remove_prefix(1);
        detail::read_token(rest, ", ", value);
        if (value.empty())
            return "tag '" + key + "' has no value";
        out.tags.emplace_back(key, value);
    }
    if (rest.empty() || rest.front() != ' ')
        return "no fields (a line needs 'measurement field=value')";
    rest.remove_prefix(1);
    bool first = true;
    while (first || (!rest.empty() && rest.front() == ',')) {
        if (!first)
            rest.remove_prefix(1);
        first = false;
        detail::read_token(rest, "=, ", key);
        if (rest.empty() || rest.front() != '=' || key.empty())
            return "field without '=value'";
        rest.remove_prefix(1);
        if (!rest.empty() && rest.front() == '"') {  // a string field: skipped, not a number
            rest.remove_prefix(1);
            while (!rest.empty() && rest.front() != '"')
                rest.remove_prefix(rest.front() == '\\' && rest.size() > 1 ? 2 : 1);
            if (rest.empty())
                return "field '" + key + "' has an unterminated string";
            rest.remove_prefix(1);
            ++out.skipped_fields;
            continue;
        }
        detail::read_token(rest, ", ", value);
        double number = 0;
        if (value == "t" || value == "T" || value == "true" || value == "True" || value == "TRUE") {
            number = 1;
        } else if (value == "f" || value == "F" || value == "false" || value == "False" ||
                   value == "FALSE") {
            number = 0;
        } else if (!detail::parse_number(value, number)) {
            return "field '" + key + "': '" + value + "' is not a number";
        }
        out.fields.emplace_back(key, number);
    }
    if (!rest.empty()) {
        if (rest.front() != ' ')
            return "unexpected text after the fields";
        rest.remove_prefix(1);
        while (!rest.empty() && rest.back() == ' ')
            rest.remove_suffix(1);
        auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), out.timestamp_ns);
        if (ec != std::errc{} || end != rest.data() + rest.size()) {
            return "timestamp '" + std::string(rest) + "' is not a whole number of nanoseconds";
        }
        out.has_timestamp = true;
    }
    if (out.fields.empty() && out.skipped_fields == 0)
        return "no fields";
    return {};
}

// A sample in owned form, as parsed from line protocol.
struct OwnedSample {
    std::string name;
    std::vector<std::pair<std::string, std::string>> labels;
    double value = 0;
    int64_t timestamp_ns = 0;
    dmon_sample_type type = DMON_GAUGE;
};

// Turns a parsed line into samples. dmon's own lines (one field named `gauge` or `counter`)
// give one sample named after the measurement; any other producer's fields each give a gauge
// named `measurement.field`.
inline void append_samples(const ParsedLine& line, int64_t default_timestamp,
                           std::vector<OwnedSample>& out) {
    const int64_t timestamp = line.has_timestamp ? line.timestamp_ns : default_timestamp;
    if (line.fields.size() == 1 &&
        (line.fields[0].first == "gauge" || line.fields[0].first == "counter")) {
        out.push_back({line.measurement, line.tags, line.fields[0].second, timestamp,
                       line.fields[0].first == "counter" ? DMON_COUNTER : DMON_GAUGE});
        return;
    }
    for (const auto& [field, value] : line.fields) {
        out.push_back({line.measurement + "." + field, line.tags, value, timestamp, DMON_GAUGE});
    }
}

// Parses a whole message (lines separated by '\n'; blank lines and '#' comments skipped).
// Returns an empty string, or "line N: what" for the first bad line; `out` then holds nothing.
inline std::string parse_message(std::string_view text, int64_t default_timestamp,
                                 std::vector<OwnedSample>& out) {
    out.clear();
    ParsedLine parsed;
    size_t line_number = 0;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string_view::npos)
            end = text.size();
        const std::string_view line = text.substr(start, end - start);
        start = end + 1;
        ++line_number;
        if (line.empty() || line == "\r" || line.front() == '#')
            continue;
        std::string error = parse_line(line, parsed);
        if (!error.empty()) {
            out.clear();
            return "line " + std::to_string(line_number) + ": " + error;
        }
        append_samples(parsed, default_timestamp, out);
    }
    return {};
}

}  // namespace dmon::line_protocol
