#include "units.hpp"

#include <dmon/metric_catalog.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <utility>

namespace dmon::ctl {

std::string_view metric_unit(std::string_view metric) {
    const MetricInfo* info = find_metric(metric);
    return info == nullptr ? std::string_view{} : info->unit;
}

namespace {
// Three significant digits: 1.23, 12.3, 123.
std::string significant(double value) {
    char buffer[32];
    const double magnitude = std::fabs(value);
    if (magnitude != 0 && magnitude < 1) {
        std::snprintf(buffer, sizeof(buffer), "%.3g", value);  // 0.00512
        return buffer;
    }
    const int decimals = magnitude == 0 || magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : 2;
    std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
    return buffer;
}

std::string scaled(double value, double base, const char* const* prefixes, size_t count,
                   std::string_view suffix) {
    size_t i = 0;
    while (i + 1 < count && std::fabs(value) >= base) {
        value /= base;
        ++i;
    }
    return significant(value) + " " + prefixes[i] + std::string(suffix);
}
}  // namespace

std::string format_value(double value, std::string_view unit, bool per_second) {
    if (std::isnan(value))
        return "NaN";
    if (std::isinf(value))
        return value > 0 ? "+Inf" : "-Inf";
    const std::string rate = per_second ? "/s" : "";
    if (unit == "By") {
        static const char* const kBinary[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
        return scaled(value, 1024, kBinary, 7, "B" + rate);
    }
    if (unit == "s" && per_second)
        return significant(value * 100) + " %";  // seconds per second: a share of a CPU
    if (unit == "1" && !per_second)
        return significant(value * 100) + " %";
    if (unit == "s" && !per_second) {
        const double magnitude = std::fabs(value);
        if (magnitude != 0 && magnitude < 1e-3)
            return significant(value * 1e6) + " µs";
        if (magnitude != 0 && magnitude < 1)
            return significant(value * 1e3) + " ms";
        return significant(value) + " s";
    }
    static const char* const kDecimal[] = {"", "k", "M", "G", "T", "P", "E"};
    std::string suffix;
    if (unit.size() > 2 && unit.front() == '{' && unit.back() == '}')
        suffix = std::string(unit.substr(1, unit.size() - 2));
    std::string text = scaled(value, 1000, kDecimal, 7, "");
    if (!suffix.empty() || !rate.empty()) {
        if (text.back() == ' ')
            text.pop_back();
        text += (suffix.empty() ? "" : " " + suffix) + rate;
    } else if (text.back() == ' ') {
        text.pop_back();
    }
    return text;
}

std::string joined(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& name : names)
        out += (out.empty() ? "" : ", ") + name;
    return out;
}

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = above;
        }
    }
    return row[b.size()];
}

}  // namespace dmon::ctl
