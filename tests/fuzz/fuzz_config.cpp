// libFuzzer: the YAML config loader. Any text gives a config or a ConfigError; nothing else
// escapes, nothing crashes.
#include "dmon/core/config.hpp"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 64 << 10)
        return 0;  // config files are small (depth and alias expansion are bounded by the reader)
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        dmon::core::parse_config(text, "fuzz.yaml");
    } catch (const dmon::core::ConfigError&) {
    }
    return 0;
}
