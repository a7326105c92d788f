#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dmon::core {

// "a, b, c": lists in messages (valid keys, missing callbacks, reload outcomes).
inline std::string join(const std::vector<std::string>& items, std::string_view separator = ", ") {
    std::string text;
    for (const auto& item : items) {
        if (!text.empty())
            text += separator;
        text += item;
    }
    return text;
}

}  // namespace dmon::core
