#include "output.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <string_view>

#include <dmon/str.hpp>

namespace dmon::ctl {

std::string format_number(double value) {
    char buffer[32];
    auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
    return std::string(buffer, result.ptr);
}

std::string json_escape(const std::string& text) {
    std::string out;
    for (const char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buffer[8];
                    std::snprintf(buffer, sizeof(buffer), "\\u%04x", c);
                    out += buffer;
                } else {
                    out += c;
                }
        }
    }
    return out;
}

namespace {
// A text cell that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a
// leading ' (OWASP's advice): host names and labels come from agents, who may be hostile.
// Numeric columns are numbers we formatted and keep their sign.
std::string csv_cell(const std::string& text, bool numeric) {
    std::string value = text;
    if (!numeric && !value.empty() &&
        std::string_view("=+-@\t\r").find(value.front()) != std::string_view::npos)
        value.insert(value.begin(), '\'');
    if (value.find_first_of(",\"\n\r") == std::string::npos)
        return value;
    std::string out = "\"";
    for (const char c : value)
        out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}
}  // namespace

void print(const Table& table, Format format, std::ostream& out) {
    const size_t n = table.columns.size();
    if (format == Format::csv) {
        for (size_t c = 0; c < n; ++c)
            out << (c ? "," : "") << csv_cell(table.columns[c], false);
        out << '\n';
        for (const auto& row : table.rows) {
            for (size_t c = 0; c < n; ++c)
                out << (c ? "," : "") << csv_cell(row[c], table.numeric[c]);
            out << '\n';
        }
        return;
    }
    if (format == Format::json) {
        out << "[";
        for (size_t r = 0; r < table.rows.size(); ++r) {
            out << (r ? ",\n " : "\n ") << "{";
            for (size_t c = 0; c < n; ++c) {
                out << (c ? ", " : "") << '"' << json_escape(table.columns[c]) << "\": ";
                if (table.numeric[c])
                    out << table.rows[r][c];
                else
                    out << '"' << json_escape(table.rows[r][c]) << '"';
            }
            out << "}";
        }
        out << (table.rows.empty() ? "]\n" : "\n]\n");
        return;
    }
    // A terminal runs escape sequences: control bytes in stored text are shown as \xNN.
    std::vector<std::vector<std::string>> rows;
    rows.reserve(table.rows.size());
    for (const auto& row : table.rows) {
        rows.emplace_back();
        for (const auto& cell : row)
            rows.back().push_back(escape_text(cell, SIZE_MAX));
    }
    std::vector<size_t> width(n);
    for (size_t c = 0; c < n; ++c) {
        width[c] = table.columns[c].size();
        for (const auto& row : rows)
            width[c] = std::max(width[c], row[c].size());
    }
    auto line = [&](const std::vector<std::string>& cells) {
        std::string text;
        for (size_t c = 0; c < n; ++c) {
            const std::string pad(width[c] - cells[c].size(), ' ');
            if (c)
                text += "  ";
            text += table.numeric[c] ? pad + cells[c] : cells[c] + (c + 1 < n ? pad : "");
        }
        out << text << '\n';
    };
    line(table.columns);
    for (const auto& row : rows)
        line(row);
}

}  // namespace dmon::ctl
