// InfluxDB line protocol, as dmon writes it (docs/wire-format.md):
//
//   system.cpu.utilization,host=web1,cpu=total gauge=0.231 1732468800000000000
//
// measurement = sample name, tags = labels in order, one field whose key is the sample type
// (`gauge` or `counter`), timestamp in ns. Header-only so that the host, every sink and any
// third-party plugin share this one encoder.
#pragma once

#include <dmon/plugin.h>

#include <charconv>
#include <cmath>
#include <string>
#include <string_view>

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
    append_escaped(out, std::string_view(sample.name.data, sample.name.size), false);
    for (size_t i = 0; i < sample.label_count; ++i) {
        const dmon_label& label = sample.labels[i];
        if (label.key.size == 0 || label.value.size == 0)
            continue;
        out.push_back(',');
        append_escaped(out, std::string_view(label.key.data, label.key.size), true);
        out.push_back('=');
        append_escaped(out, std::string_view(label.value.data, label.value.size), true);
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

}  // namespace dmon::line_protocol
