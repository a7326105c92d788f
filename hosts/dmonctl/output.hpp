#pragma once
// Result sets of dmonctl, printed as a table for people (units, rounded, UTC times, control
// bytes escaped), as CSV for spreadsheets (exact numbers, formulas defused) or as JSON (from the
// JSON library, exact numbers, typed).
#include <dmon/core/text.hpp>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string_view>
#include <string>
#include <vector>

namespace dmon::ctl {

enum class Format { table, csv, json };
// "table", "csv" or "json"; nullopt for anything else.
std::optional<Format> parse_format(std::string_view text);

// One value of a result set. A table shows a number in its unit ("1.50 GiB", "12.3 MiB/s")
// and a time as UTC text; CSV and JSON carry the exact number and ns since the epoch.
struct Cell {
    enum class Kind { null, text, integer, number, time };
    Kind kind = Kind::null;
    std::string text;
    int64_t integer = 0;
    double number = 0;
    std::string unit;         // numbers: as metric_unit() gives it
    bool per_second = false;  // numbers: a counter's rate

    static Cell of(std::string text) { return {Kind::text, std::move(text)}; }
    static Cell of_integer(int64_t value, std::string unit = {}) {
        return {Kind::integer, {}, value, 0, std::move(unit)};
    }
    static Cell of_number(double value, std::string unit = {}, bool per_second = false) {
        return {Kind::number, {}, 0, value, std::move(unit), per_second};
    }
    static Cell of_time(int64_t ns) { return {Kind::time, {}, ns}; }
    static Cell null() { return {}; }
};

struct Table {
    std::vector<std::string> columns;
    std::vector<std::vector<Cell>> rows;
};

void print(const Table& table, Format format, std::ostream& out);

std::string format_number(double value);  // shortest exact decimal: 0.231, 1400632320
using dmon::core::format_bytes;           // 1.5 GiB
using dmon::core::format_time_utc;        // 2024-11-24T16:00:00.000Z

}  // namespace dmon::ctl
