#include "output.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>

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
std::string csv_cell(const std::string& text) {
    if (text.find_first_of(",\"\n") == std::string::npos)
        return text;
    std::string out = "\"";
    for (const char c : text)
        out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}
}  // namespace

void print(const Table& table, Format format, std::ostream& out) {
    const size_t n = table.columns.size();
    if (format == Format::csv) {
        for (size_t c = 0; c < n; ++c)
            out << (c ? "," : "") << csv_cell(table.columns[c]);
        out << '\n';
        for (const auto& row : table.rows) {
            for (size_t c = 0; c < n; ++c)
                out << (c ? "," : "") << csv_cell(row[c]);
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
    std::vector<size_t> width(n);
    for (size_t c = 0; c < n; ++c) {
        width[c] = table.columns[c].size();
        for (const auto& row : table.rows)
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
    for (const auto& row : table.rows)
        line(row);
}

}  // namespace dmon::ctl
