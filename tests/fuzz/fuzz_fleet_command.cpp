// libFuzzer: fleet control's command parser and the apply document (hosts/fleet), fed what any
// broker user could publish to dmon.control. A parsed command must read back the same after
// encoding; the composed config must hold no local key of the document's.
#include <apply_document.hpp>
#include <protocol.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    std::string error;
    const auto command = dmon::fleet::parse_command(body, error);
    if (command) {
        std::string again;
        const auto back = dmon::fleet::parse_command(dmon::fleet::encode_command(*command), again);
        if (!back || back->id != command->id || back->at_ms != command->at_ms ||
            back->verb != command->verb || back->nodes != command->nodes ||
            back->config != command->config || back->collectors != command->collectors)
            std::abort();
        (void)dmon::fleet::glob_match(command->nodes, "web-1.example.com");
    } else if (error.empty()) {
        std::abort();  // a refusal always says why
    }
    std::string apply_error;
    const std::string composed = dmon::fleet::compose_applied_config(
        body, "node: n\nfleet:\n  url: amqp://x/\n  admins: [a]\n", apply_error);
    if (composed.empty() == apply_error.empty())
        std::abort();  // either a document or a reason, never both or neither
    return 0;
}
