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

std::string format_time_utc(int64_t timestamp_ns) {
    const std::time_t seconds = static_cast<std::time_t>(timestamp_ns / 1'000'000'000);
    const int millis = static_cast<int>((timestamp_ns / 1'000'000) % 1000);
    std::tm utc{};
#ifdef _WIN32
    gmtime_s(&utc, &seconds);
#else
    gmtime_r(&seconds, &utc);
#endif
    char buffer[40];
    const size_t n = std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%S", &utc);
    char tail[16];
    std::snprintf(tail, sizeof(tail), ".%03dZ", millis);
    return std::string(buffer, n) + tail;
}

std::string format_bytes(double bytes) {
    static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int unit = 0;
    while (std::fabs(bytes) >= 1024 && unit < 4) {
        bytes /= 1024;
        ++unit;
    }
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
    return buffer;
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
