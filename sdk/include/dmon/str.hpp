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
