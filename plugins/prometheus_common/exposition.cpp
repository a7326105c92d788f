#include "exposition.hpp"

#include "naming.hpp"

#include <dmon/metric_catalog.hpp>
#include <dmon/str.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>

namespace dmon::plugins::prometheus {
namespace {

// Label values: backslash, double quote and line feed escaped (both formats).
void append_label_value(std::string& out, std::string_view value) {
    for (const char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
}

std::string label_text(const dmon_sample& sample) {
    std::string out;
    const auto labels = sanitized_labels(sample);
    if (labels.empty())
        return out;
    out += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
        if (i > 0)
            out += ',';
        out += labels[i].first;
        out += "=\"";
        append_label_value(out, labels[i].second);
        out += '"';
    }
    out += '}';
    return out;
}

std::string help_text(std::string_view name, const MetricInfo* info) {
    // The original name in brackets, so that a reader of the exposition finds the docs' entry.
    const std::string help =
        (info != nullptr ? std::string(info->help) : "dmon metric") + " (" + valid_utf8(name) + ")";
    // Escaped as a whole: a name from outside with a line feed must not start a line of its own.
    std::string out;
    for (const char c : help) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

// Shortest text that reads back as the same double; Prometheus' spellings of the specials.
void append_value(std::string& out, double value) {
    if (std::isnan(value)) {
        out += "NaN";
        return;
    }
    if (std::isinf(value)) {
        out += value > 0 ? "+Inf" : "-Inf";
        return;
    }
    char buffer[32];
    const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
    out.append(buffer, result.ptr);
}

void append_timestamp(std::string& out, Format format, int64_t timestamp_ns) {
    const int64_t ms = timestamp_ns / 1000000;
    char buffer[32];
    if (format == Format::text) {
        const auto result = std::to_chars(buffer, buffer + sizeof(buffer), ms);
        out.append(buffer, result.ptr);
    } else {
        // OpenMetrics: seconds, with the milliseconds as a fraction.
        const int64_t seconds = ms / 1000;
        const int64_t millis = ms % 1000;
        std::snprintf(buffer, sizeof(buffer), "%lld.%03lld", static_cast<long long>(seconds),
                      static_cast<long long>(millis < 0 ? -millis : millis));
        out += buffer;
    }
}

}  // namespace

Format negotiate(std::string_view accept) {
    return accept.find("application/openmetrics-text") != std::string_view::npos
               ? Format::openmetrics
               : Format::text;
}

std::string_view content_type(Format format) {
    return format == Format::openmetrics
               ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
               : "text/plain; version=0.0.4; charset=utf-8";
}

Exposition::Update Exposition::update(const dmon_sample& sample, int64_t now_ns) {
    const std::string_view name = to_view(sample.name);
    const auto type = static_cast<dmon_sample_type>(sample.type);
    std::string lookup(name);
    lookup += type == DMON_COUNTER ? "\x01"
                                     "c"
                                   : "\x01"
                                     "g";
    auto named = names_.find(lookup);
    if (named == names_.end()) {
        if (names_.size() >= settings_.max_series)  // each name has a series: bounded alike
            return Update::refused_max_series;
        const MetricInfo* info = find_metric(name);
        const std::string_view unit = info != nullptr ? info->unit : std::string_view{};
        Names names{family_name(name, unit, type), type};
        auto [family, created] = families_.try_emplace(names.family);
        if (created) {
            family->second.type = type;
            family->second.sample_name = metric_name(name, unit, type);
            family->second.help = help_text(name, info);
            const std::string suffix = unit_suffix(unit, type);
            family->second.unit = suffix;
        }
        named = names_.emplace(std::move(lookup), std::move(names)).first;
    }
    Family& family = families_[named->second.family];
    if (family.type != type)
        return Update::refused_type_conflict;  // a gauge and a counter under one family name
    std::string labels = label_text(sample);
    auto point = family.series.find(labels);
    if (point == family.series.end()) {
        if (series_ >= settings_.max_series)
            return Update::refused_max_series;
        point = family.series.emplace(std::move(labels), Point{}).first;
        ++series_;
    } else if (sample.timestamp_ns < point->second.timestamp_ns) {
        return Update::stored;  // older than what is shown: the newest stays
    }
    point->second = Point{sample.value, sample.timestamp_ns, now_ns};
    return Update::stored;
}

size_t Exposition::expire(int64_t now_ns) {
    size_t removed = 0;
    for (auto family = families_.begin(); family != families_.end();) {
        auto& series = family->second.series;
        for (auto it = series.begin(); it != series.end();) {
            if (now_ns - it->second.updated_ns > settings_.expire_ns) {
                it = series.erase(it);
                ++removed;
            } else {
                ++it;
            }
        }
        if (series.empty()) {
            // Its names go too, so that a metric that stopped for good frees its entry.
            for (auto name = names_.begin(); name != names_.end();)
                name = name->second.family == family->first ? names_.erase(name) : std::next(name);
            family = families_.erase(family);
        } else {
            ++family;
        }
    }
    series_ -= removed;
    return removed;
}

void Exposition::render(Format format, int64_t now_ns, std::string& out) const {
    out.clear();
    out.reserve(series_ * 96 + families_.size() * 128);
    for (const auto& [family_name, family] : families_) {
        bool header = false;
        for (const auto& [labels, point] : family.series) {
            if (now_ns - point.updated_ns > settings_.expire_ns)
                continue;
            if (!header) {
                // Text 0.0.4 names a counter family with its "_total"; OpenMetrics without.
                const std::string& named =
                    format == Format::text ? family.sample_name : family_name;
                out += "# HELP " + named + " " + family.help + "\n";
                out +=
                    "# TYPE " + named + (family.type == DMON_COUNTER ? " counter\n" : " gauge\n");
                if (format == Format::openmetrics && !family.unit.empty())
                    out += "# UNIT " + named + " " + family.unit + "\n";
                header = true;
            }
            out += family.sample_name;
            out += labels;
            out += ' ';
            append_value(out, point.value);
            out += ' ';
            append_timestamp(out, format, point.timestamp_ns);
            out += '\n';
        }
    }
    if (format == Format::openmetrics)
        out += "# EOF\n";
}

}  // namespace dmon::plugins::prometheus
