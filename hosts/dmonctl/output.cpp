#include "output.hpp"

#include "units.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>

#include <dmon/str.hpp>
#include <nlohmann/json.hpp>

namespace dmon::ctl {

std::string format_number(double value) {
    char buffer[32];
    auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
    return std::string(buffer, result.ptr);
}

namespace {
// A text cell that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a
// leading ' (OWASP's advice): host names and labels come from agents, who may be hostile.
// Numbers are ours and keep their sign.
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

std::string exact_text(const Cell& cell) {
    switch (cell.kind) {
        case Cell::Kind::null:
            return "";
        case Cell::Kind::text:
            return cell.text;
        case Cell::Kind::integer:
        case Cell::Kind::time:
            return std::to_string(cell.integer);
        case Cell::Kind::number:
            return format_number(cell.number);
    }
    return "";
}

std::string human_text(const Cell& cell) {
    switch (cell.kind) {
        case Cell::Kind::null:
            return "-";
        case Cell::Kind::time:
            return format_time_utc(cell.integer);
        case Cell::Kind::number:
            return format_value(cell.number, cell.unit, cell.per_second);
        case Cell::Kind::integer:
            if (!cell.unit.empty())
                return format_value(static_cast<double>(cell.integer), cell.unit);
            return exact_text(cell);
        default:
            // A terminal runs escape sequences: control bytes in stored text are shown as \xNN.
            return escape_text(exact_text(cell), SIZE_MAX);
    }
}

nlohmann::ordered_json json_value(const Cell& cell) {
    switch (cell.kind) {
        case Cell::Kind::null:
            return nullptr;
        case Cell::Kind::text:
            return cell.text;
        case Cell::Kind::integer:
        case Cell::Kind::time:
            return cell.integer;
        case Cell::Kind::number:
            // JSON has no NaN or infinity: those are null.
            return std::isfinite(cell.number) ? nlohmann::ordered_json(cell.number)
                                              : nlohmann::ordered_json();
    }
    return nullptr;
}

bool right_aligned(const Cell& cell) {
    return cell.kind == Cell::Kind::integer || cell.kind == Cell::Kind::number;
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
                out << (c ? "," : "") << csv_cell(exact_text(row[c]), right_aligned(row[c]));
            out << '\n';
        }
        return;
    }
    if (format == Format::json) {
        // One object per line, keys in column order. Stored text may be any bytes: invalid
        // UTF-8 is replaced, not an exception.
        out << '[';
        for (size_t r = 0; r < table.rows.size(); ++r) {
            nlohmann::ordered_json object = nlohmann::ordered_json::object();
            for (size_t c = 0; c < n; ++c)
                object[table.columns[c]] = json_value(table.rows[r][c]);
            out << (r ? ",\n " : "\n ")
                << object.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
        }
        out << (table.rows.empty() ? "]\n" : "\n]\n");
        return;
    }
    std::vector<std::vector<std::string>> rows;
    rows.reserve(table.rows.size());
    // A column of numbers (and gaps) is right-aligned; one with any text is not.
    std::vector<bool> numeric(n, !table.rows.empty());
    for (const auto& row : table.rows) {
        rows.emplace_back();
        for (size_t c = 0; c < n; ++c) {
            rows.back().push_back(human_text(row[c]));
            numeric[c] = numeric[c] && (right_aligned(row[c]) || row[c].kind == Cell::Kind::null);
        }
    }
    // Widths in characters, not bytes: "µs" is one column wide.
    auto width_of = [](const std::string& text) {
        return static_cast<size_t>(
            std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
    };
    std::vector<size_t> width(n);
    for (size_t c = 0; c < n; ++c) {
        width[c] = width_of(table.columns[c]);
        for (const auto& row : rows)
            width[c] = std::max(width[c], width_of(row[c]));
    }
    auto line = [&](const std::vector<std::string>& cells) {
        std::string text;
        for (size_t c = 0; c < n; ++c) {
            const std::string pad(width[c] - width_of(cells[c]), ' ');
            if (c)
                text += "  ";
            text += numeric[c] ? pad + cells[c] : cells[c] + (c + 1 < n ? pad : "");
        }
        out << text << '\n';
    };
    line(table.columns);
    for (const auto& row : rows)
        line(row);
}

std::optional<Format> parse_format(std::string_view text) {
    if (text == "table")
        return Format::table;
    if (text == "csv")
        return Format::csv;
    if (text == "json")
        return Format::json;
    return std::nullopt;
}

}  // namespace dmon::ctl
