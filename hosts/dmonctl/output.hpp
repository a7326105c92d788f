#pragma once

#include <dmon/core/text.hpp>

#include <ostream>
#include <string>
#include <vector>

namespace dmon::ctl {

enum class Format { table, csv, json };

// A result set: column names and rows of already formatted cells. `numeric` columns are
// right-aligned in tables and unquoted in JSON.
struct Table {
    std::vector<std::string> columns;
    std::vector<bool> numeric;
    std::vector<std::vector<std::string>> rows;
};

void print(const Table& table, Format format, std::ostream& out);

std::string format_number(double value);  // shortest exact decimal: 0.231, 1400632320
using dmon::core::format_bytes;           // 1.5 GiB
using dmon::core::format_time_utc;        // 2024-11-24T16:00:00.000Z
std::string json_escape(const std::string& text);

}  // namespace dmon::ctl
