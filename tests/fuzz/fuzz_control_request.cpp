// libFuzzer: the control request parser. What it returns is empty or one word of
// [a-z0-9_-], at most kMaxRequest long.
#include "dmon/core/control_server.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view line(reinterpret_cast<const char*>(data), size);
    const std::string request = dmon::core::parse_control_request(line);
    if (request.size() > dmon::core::kMaxRequest)
        std::abort();
    for (const char c : request) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            std::abort();
    }
    return 0;
}
