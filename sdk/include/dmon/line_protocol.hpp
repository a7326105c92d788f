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

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdint>
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
    // A line that starts with '#' is a comment: a name starting with '#' is escaped, or it
    // would vanish on the next hop.
    if (to_view(sample.name).front() == '#')
        out.push_back('\\');
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
//
// Input from the network is hostile: every size is bounded before the work grows, and what
// breaks a bound is refused with a short reason (a stable word: it goes into counters and the
// dead-letter header) and a detail for the log. Parsing costs memory linear in the message:
// the tags of a line are stored once, however many fields share them.

// The bounds. Defaults are what amqp_consume uses unless configured (docs/configuration.md).
struct Limits {
    size_t max_message_bytes = 1 << 20;
    size_t max_line_bytes = 64 << 10;
    size_t max_labels = 32;  // tags of one line (= labels of each of its samples)
    size_t max_fields = 64;  // fields of one line
    size_t max_name_bytes = 256;
    size_t max_label_key_bytes = 128;
    size_t max_label_value_bytes = 1024;
    // The samples a message expands to (as the host holds them) may cost at most this many
    // times the message's size: a line with many tags and many fields multiplies.
    size_t max_expansion = 16;
    int64_t oldest_ns = INT64_MIN;  // timestamps outside [oldest_ns, newest_ns] are refused
    int64_t newest_ns = INT64_MAX;
};

// Why a message was refused: `reason` is empty when it was not.
struct Rejection {
    std::string reason;  // message_too_large, line_too_long, malformed, ... (docs/operations.md)
    std::string detail;  // for people: "line 3: tag 'cpu' appears twice"
    explicit operator bool() const { return !reason.empty(); }
};

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
inline void read_token(std::string_view& rest, std::string_view stops, std::string& out) {
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
            return;
        out.push_back(c);
        rest.remove_prefix(1);
    }
}

// Parses a number; `finite` tells a NaN or infinity apart from text that is no number.
inline bool parse_number(std::string_view text, double& out, bool& finite) {
    finite = true;
    if (text.empty())
        return false;
    char suffix = text.back();
    if (suffix == 'i' || suffix == 'u')
        text.remove_suffix(1);  // integer / unsigned fields
    if (!text.empty() && text.front() == '+')
        text.remove_prefix(1);
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (ec != std::errc{} || end != text.data() + text.size())
        return false;
    finite = std::isfinite(out);
    return true;
}

inline Rejection reject(std::string reason, std::string detail) {
    return Rejection{std::move(reason), std::move(detail)};
}

// The detail of a rejection quotes at most this much of the input.
inline std::string quote(std::string_view text) {
    constexpr size_t kMax = 64;
    std::string out = "'";
    out.append(text.substr(0, kMax));
    out.append(text.size() > kMax ? "...'" : "'");
    return out;
}

}  // namespace detail

// Parses one line of line protocol within `limits` (the size, label and field bounds; the
// timestamp window is checked by parse_message, which knows the default timestamp).
inline Rejection parse_line(std::string_view line, ParsedLine& out, const Limits& limits = {}) {
    using detail::reject;
    out.measurement.clear();
    out.tags.clear();
    out.fields.clear();
    out.timestamp_ns = 0;
    out.has_timestamp = false;
    out.skipped_fields = 0;
    if (line.size() > limits.max_line_bytes) {
        return reject("line_too_long", std::to_string(line.size()) + " bytes, more than " +
                                           std::to_string(limits.max_line_bytes));
    }
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
    std::string_view rest = line;
    detail::read_token(rest, ", ", out.measurement);
    if (out.measurement.empty())
        return reject("malformed", "no measurement name");
    if (out.measurement.size() > limits.max_name_bytes) {
        return reject("name_too_long", "name " + detail::quote(out.measurement) + " has " +
                                           std::to_string(out.measurement.size()) +
                                           " bytes, more than " +
                                           std::to_string(limits.max_name_bytes));
    }
    std::string key, value;
    while (!rest.empty() && rest.front() == ',') {
        rest.remove_prefix(1);
        detail::read_token(rest, "=, ", key);
        if (rest.empty() || rest.front() != '=' || key.empty())
            return reject("malformed", "tag without '=value'");
        rest.remove_prefix(1);
        detail::read_token(rest, ", ", value);
        if (value.empty())
            return reject("malformed", "tag " + detail::quote(key) + " has no value");
        if (out.tags.size() == limits.max_labels) {
            return reject("too_many_labels",
                          "more than " + std::to_string(limits.max_labels) + " tags");
        }
        if (key.size() > limits.max_label_key_bytes ||
            value.size() > limits.max_label_value_bytes) {
            return reject("label_too_long", "tag " + detail::quote(key) + " is longer than " +
                                                std::to_string(limits.max_label_key_bytes) + "=" +
                                                std::to_string(limits.max_label_value_bytes) +
                                                " bytes");
        }
        for (const auto& tag : out.tags) {
            if (tag.first == key)
                return reject("duplicate_label", "tag " + detail::quote(key) + " appears twice");
        }
        out.tags.emplace_back(key, value);
    }
    if (rest.empty() || rest.front() != ' ')
        return reject("malformed", "no fields (a line needs 'measurement field=value')");
    rest.remove_prefix(1);
    bool first = true;
    while (first || (!rest.empty() && rest.front() == ',')) {
        if (!first)
            rest.remove_prefix(1);
        first = false;
        detail::read_token(rest, "=, ", key);
        if (rest.empty() || rest.front() != '=' || key.empty())
            return reject("malformed", "field without '=value'");
        rest.remove_prefix(1);
        if (out.fields.size() + out.skipped_fields == limits.max_fields) {
            return reject("too_many_fields",
                          "more than " + std::to_string(limits.max_fields) + " fields");
        }
        if (!rest.empty() && rest.front() == '"') {  // a string field: skipped, not a number
            rest.remove_prefix(1);
            while (!rest.empty() && rest.front() != '"')
                rest.remove_prefix(rest.front() == '\\' && rest.size() > 1 ? 2 : 1);
            if (rest.empty())
                return reject("malformed",
                              "field " + detail::quote(key) + " has an unterminated string");
            rest.remove_prefix(1);
            ++out.skipped_fields;
            continue;
        }
        detail::read_token(rest, ", ", value);
        double number = 0;
        bool finite = true;
        if (value == "t" || value == "T" || value == "true" || value == "True" || value == "TRUE") {
            number = 1;
        } else if (value == "f" || value == "F" || value == "false" || value == "False" ||
                   value == "FALSE") {
            number = 0;
        } else if (!detail::parse_number(value, number, finite)) {
            return reject("malformed", "field " + detail::quote(key) + ": " + detail::quote(value) +
                                           " is not a number");
        } else if (!finite) {
            return reject("not_finite", "field " + detail::quote(key) + " is " +
                                            detail::quote(value) +
                                            " (NaN and infinity are refused)");
        }
        if (out.measurement.size() + 1 + key.size() > limits.max_name_bytes &&
            !(key == "gauge" || key == "counter")) {
            return reject("name_too_long", "name " + detail::quote(out.measurement + "." + key) +
                                               " is longer than " +
                                               std::to_string(limits.max_name_bytes) + " bytes");
        }
        out.fields.emplace_back(key, number);
    }
    if (!rest.empty()) {
        if (rest.front() != ' ')
            return reject("malformed", "unexpected text after the fields");
        rest.remove_prefix(1);
        while (!rest.empty() && rest.back() == ' ')
            rest.remove_suffix(1);
        auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), out.timestamp_ns);
        if (ec != std::errc{} || end != rest.data() + rest.size()) {
            return reject("malformed", "timestamp " + detail::quote(rest) +
                                           " is not a whole number of nanoseconds");
        }
        out.has_timestamp = true;
    }
    if (out.fields.empty() && out.skipped_fields == 0)
        return reject("malformed", "no fields");
    return {};
}

// A sample in owned form, as parsed from line protocol. Its labels are a set shared with the
// other samples of its line (ParsedMessage::label_sets), so F fields under T tags cost F + T,
// not F x T.
struct OwnedSample {
    std::string name;
    uint32_t label_set = 0;
    double value = 0;
    int64_t timestamp_ns = 0;
    dmon_sample_type type = DMON_GAUGE;
};

using LabelSet = std::vector<std::pair<std::string, std::string>>;

struct ParsedMessage {
    std::vector<OwnedSample> samples;
    std::vector<LabelSet> label_sets;
    const LabelSet& labels(const OwnedSample& sample) const { return label_sets[sample.label_set]; }
    void clear() {
        samples.clear();
        label_sets.clear();
    }
};

// What a sample costs once the host holds it in a batch (names and labels in an arena, a
// record per sample, two spans per label): the measure of max_expansion.
inline size_t expanded_cost(size_t name_bytes, const LabelSet& labels) {
    size_t cost = 40 + name_bytes;
    for (const auto& [key, value] : labels)
        cost += 16 + key.size() + value.size();
    return cost;
}

// Turns a parsed line into samples. dmon's own lines (one field named `gauge` or `counter`)
// give one sample named after the measurement; any other producer's fields each give a gauge
// named `measurement.field`. Returns the expanded cost of what it added.
inline size_t append_samples(ParsedLine& line, int64_t default_timestamp, ParsedMessage& out) {
    const int64_t timestamp = line.has_timestamp ? line.timestamp_ns : default_timestamp;
    const auto set = static_cast<uint32_t>(out.label_sets.size());
    out.label_sets.push_back(std::move(line.tags));
    const LabelSet& labels = out.label_sets.back();
    if (line.fields.size() == 1 &&
        (line.fields[0].first == "gauge" || line.fields[0].first == "counter")) {
        out.samples.push_back({std::move(line.measurement), set, line.fields[0].second, timestamp,
                               line.fields[0].first == "counter" ? DMON_COUNTER : DMON_GAUGE});
        return expanded_cost(out.samples.back().name.size(), labels);
    }
    size_t cost = 0;
    for (const auto& [field, value] : line.fields) {
        out.samples.push_back({line.measurement + "." + field, set, value, timestamp, DMON_GAUGE});
        cost += expanded_cost(out.samples.back().name.size(), labels);
    }
    return cost;
}

// Parses a whole message (lines separated by '\n'; blank lines and '#' comments skipped)
// within `limits`. On a rejection `out` holds nothing and the detail names the line.
inline Rejection parse_message(std::string_view text, int64_t default_timestamp, ParsedMessage& out,
                               const Limits& limits = {}) {
    out.clear();
    if (text.size() > limits.max_message_bytes) {
        return detail::reject("message_too_large", std::to_string(text.size()) +
                                                       " bytes, more than " +
                                                       std::to_string(limits.max_message_bytes));
    }
    // The expansion bound has a floor, so a small message of several fields is never refused.
    const size_t budget = std::max<size_t>(64 << 10, limits.max_expansion * text.size());
    size_t cost = 0;
    ParsedLine parsed;
    size_t line_number = 0;
    size_t start = 0;
    const auto fail = [&](Rejection rejection) {
        out.clear();
        rejection.detail = "line " + std::to_string(line_number) + ": " + rejection.detail;
        return rejection;
    };
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string_view::npos)
            end = text.size();
        const std::string_view line = text.substr(start, end - start);
        start = end + 1;
        ++line_number;
        if (line.empty() || line == "\r" || line.front() == '#')
            continue;
        if (Rejection rejection = parse_line(line, parsed, limits))
            return fail(std::move(rejection));
        const int64_t timestamp = parsed.has_timestamp ? parsed.timestamp_ns : default_timestamp;
        if (timestamp < limits.oldest_ns) {
            return fail(
                detail::reject("timestamp_too_old", "timestamp " + std::to_string(timestamp) +
                                                        " is older than the oldest accepted, " +
                                                        std::to_string(limits.oldest_ns)));
        }
        if (timestamp > limits.newest_ns) {
            return fail(
                detail::reject("timestamp_in_future", "timestamp " + std::to_string(timestamp) +
                                                          " is later than the newest accepted, " +
                                                          std::to_string(limits.newest_ns)));
        }
        cost += append_samples(parsed, default_timestamp, out);
        if (cost > budget) {
            return fail(detail::reject("amplification",
                                       "the samples would take more than " +
                                           std::to_string(limits.max_expansion) +
                                           " times the message's size (many tags x many fields)"));
        }
    }
    return {};
}

}  // namespace dmon::line_protocol
