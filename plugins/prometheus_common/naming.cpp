#include "naming.hpp"

#include <dmon/metric_catalog.hpp>
#include <dmon/str.hpp>

#include <cstdint>

namespace dmon::plugins::prometheus {
namespace {

bool name_char(char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

// Every character outside [a-zA-Z0-9_] becomes '_', and runs of '_' become one (dots, dashes,
// slashes and spaces all read as word breaks).
std::string words(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const char mapped = name_char(c, false) ? c : '_';
        if (mapped == '_' && !out.empty() && out.back() == '_')
            continue;
        out += mapped;
    }
    return out;
}

bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string_view unit_word(std::string_view unit) {
    // UCUM units as OpenTelemetry writes them, in the words Prometheus uses.
    static constexpr std::pair<std::string_view, std::string_view> kWords[] = {
        {"By", "bytes"},    {"KiBy", "kibibytes"},  {"MiBy", "mebibytes"},  {"GiBy", "gibibytes"},
        {"s", "seconds"},   {"ms", "milliseconds"}, {"us", "microseconds"}, {"ns", "nanoseconds"},
        {"min", "minutes"}, {"h", "hours"},         {"d", "days"},          {"%", "percent"},
        {"Hz", "hertz"},    {"Cel", "celsius"},     {"m", "meters"},        {"V", "volts"},
        {"A", "amperes"},   {"J", "joules"},        {"W", "watts"},         {"bit", "bits"},
    };
    for (const auto& [code, word] : kWords)
        if (code == unit)
            return word;
    return {};
}

}  // namespace

std::string unit_suffix(std::string_view unit, dmon_sample_type type) {
    if (unit.empty())
        return {};
    if (unit == "1")
        return type == DMON_GAUGE ? "ratio" : "";
    // An annotation in braces is a count of something, not a unit.
    if (unit.front() == '{')
        return {};
    const size_t slash = unit.find('/');
    auto word = [](std::string_view part) {
        const std::string_view known = unit_word(part);
        return known.empty() ? words(part) : std::string(known);
    };
    if (slash == std::string_view::npos)
        return word(unit);
    // "By/s" -> "bytes_per_second"; per-unit words are singular.
    std::string per = word(unit.substr(slash + 1));
    if (per.size() > 1 && per.back() == 's')
        per.pop_back();
    return word(unit.substr(0, slash)) + "_per_" + per;
}

std::string family_name(std::string_view name, std::string_view unit, dmon_sample_type type) {
    std::string out = words(name);
    if (out.empty() || !name_char(out.front(), true))
        out.insert(out.begin(), '_');
    if (type == DMON_COUNTER && ends_with(out, "_total"))
        out.resize(out.size() - 6);  // "_total" is added to the samples, not the family
    const std::string suffix = unit_suffix(unit, type);
    if (!suffix.empty() && !ends_with(out, "_" + suffix))
        out += "_" + suffix;
    return out;
}

std::string metric_name(std::string_view name, std::string_view unit, dmon_sample_type type) {
    std::string out = family_name(name, unit, type);
    if (type == DMON_COUNTER)
        out += "_total";
    return out;
}

std::string label_name(std::string_view key) {
    std::string out;
    out.reserve(key.size() + 4);
    for (const char c : key)
        out += name_char(c, false) ? c : '_';
    if (out.empty())
        return "key_";
    if (out.front() >= '0' && out.front() <= '9')
        return "key_" + out;
    if (out.rfind("__", 0) == 0)
        return "key" + out;
    return out;
}

std::string valid_utf8(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        if (const size_t length = utf8_sequence(text, i); length > 0) {
            out.append(text.substr(i, length));
            i += length;
        } else {
            out += "\xEF\xBF\xBD";
            ++i;
        }
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> sanitized_labels(const dmon_sample& sample) {
    std::vector<std::pair<std::string, std::string>> labels;
    labels.reserve(sample.label_count);
    for (size_t i = 0; i < sample.label_count; ++i) {
        std::string key = label_name(to_view(sample.labels[i].key));
        const std::string value = valid_utf8(to_view(sample.labels[i].value));
        bool merged = false;
        for (auto& [existing, existing_value] : labels) {
            if (existing == key) {
                existing_value += ';';
                existing_value += value;
                merged = true;
                break;
            }
        }
        if (!merged)
            labels.emplace_back(std::move(key), value);
    }
    return labels;
}

}  // namespace dmon::plugins::prometheus
