#pragma once
// dmon_str <-> std::string_view: the one conversion, for the SDK's C++ headers, the host and
// plugins alike.
#include <dmon/plugin.h>

#include <cstddef>
#include <cstdint>
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

// The length of the well-formed UTF-8 sequence that starts at text[i] (1 to 4), or 0 for a byte
// that starts none (a stray continuation, an overlong form, a surrogate, past U+10FFFF, cut).
inline size_t utf8_sequence(std::string_view text, size_t i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80)
        return 1;
    size_t length = 0;
    uint32_t lowest = 0;  // overlong encodings are refused too
    if ((byte & 0xe0) == 0xc0) {
        length = 2;
        lowest = 0x80;
    } else if ((byte & 0xf0) == 0xe0) {
        length = 3;
        lowest = 0x800;
    } else if ((byte & 0xf8) == 0xf0) {
        length = 4;
        lowest = 0x10000;
    }
    if (length == 0 || i + length > text.size())
        return 0;
    uint32_t code = byte & (0xff >> (length + 1));
    for (size_t k = 1; k < length; ++k) {
        const auto next = static_cast<unsigned char>(text[i + k]);
        if ((next & 0xc0) != 0x80)
            return 0;
        code = (code << 6) | (next & 0x3f);
    }
    return code >= lowest && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff) ? length : 0;
}

// Well-formed UTF-8 without NUL: what a text column of PostgreSQL (and most receivers) takes.
inline bool is_utf8_text(std::string_view text) {
    for (size_t i = 0; i < text.size();) {
        const size_t length = utf8_sequence(text, i);
        if (length == 0 || text[i] == '\0')
            return false;
        i += length;
    }
    return true;
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
