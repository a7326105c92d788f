#pragma once
// dmon_str <-> std::string_view: the one conversion, for the SDK's C++ headers, the host and
// plugins alike.
#include <dmon/plugin.h>

#include <string_view>

namespace dmon {

inline dmon_str to_str(std::string_view text) {
    return dmon_str{text.data(), text.size()};
}
// An empty or null dmon_str is an empty view (a null data pointer never reaches string_view).
inline std::string_view to_view(dmon_str text) {
    return text.size == 0 || text.data == nullptr ? std::string_view{}
                                                  : std::string_view{text.data, text.size};
}

}  // namespace dmon

#include <string>

namespace dmon {

// Text from outside, made safe to print on one line of a log or a terminal: control bytes and
// DEL become \xNN (so a '\n' cannot forge a line and an escape sequence cannot drive the
// terminal), and at most `max_bytes` of the input are shown, with
// "...(N bytes)" after a cut. Bytes >= 0x80 pass (UTF-8 text stays readable).
inline std::string escape_text(std::string_view text, size_t max_bytes = 200) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    const std::string_view shown = text.substr(0, max_bytes);
    out.reserve(shown.size() + 16);
    for (const char c : shown) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) {
            out += "\\x";
            out += kHex[byte >> 4];
            out += kHex[byte & 15];
        } else {
            out += c;
        }
    }
    if (text.size() > max_bytes)
        out += "...(" + std::to_string(text.size()) + " bytes)";
    return out;
}

}  // namespace dmon
