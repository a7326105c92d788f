#pragma once
// How the sample harnesses read their input: fields cut at 0x00 bytes (a name, then key, value
// pairs), so that libFuzzer's mutations move labels in and out whole.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dmon::fuzz {

inline std::vector<std::string> split(const uint8_t* data, size_t size) {
    std::vector<std::string> parts(1);
    for (size_t i = 0; i < size; ++i) {
        if (data[i] == 0)
            parts.emplace_back();
        else
            parts.back().push_back(static_cast<char>(data[i]));
    }
    return parts;
}

}  // namespace dmon::fuzz
