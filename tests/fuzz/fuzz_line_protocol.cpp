// libFuzzer: a whole message through the parser, within the limits amqp_consume uses. Nothing
// may crash, and what the parser accepts must respect every limit.
#include <dmon/line_protocol.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace dmon::line_protocol;
    Limits limits;
    limits.max_message_bytes = 64 << 10;
    limits.max_line_bytes = 4 << 10;
    limits.max_labels = 8;
    limits.max_fields = 8;
    limits.max_name_bytes = 64;
    limits.max_label_key_bytes = 64;
    limits.max_label_value_bytes = 128;
    limits.oldest_ns = 0;
    limits.newest_ns = INT64_MAX / 2;
    ParsedMessage out;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const Rejection rejection = parse_message(text, 1, out, limits);
    if (rejection) {
        if (!out.samples.empty() || rejection.detail.empty())
            std::abort();  // a refused message keeps nothing, and says why
        return 0;
    }
    size_t cost = 0;
    for (const auto& sample : out.samples) {
        const LabelSet& labels = out.labels(sample);
        if (sample.name.empty() || labels.size() > limits.max_labels ||
            !std::isfinite(sample.value) || sample.timestamp_ns < limits.oldest_ns ||
            sample.timestamp_ns > limits.newest_ns)
            std::abort();
        for (size_t i = 0; i < labels.size(); ++i) {
            for (size_t j = i + 1; j < labels.size(); ++j) {
                if (labels[i].first == labels[j].first)
                    std::abort();  // duplicate keys are refused
            }
        }
        cost += expanded_cost(sample.name.size(), labels);
    }
    if (cost > std::max<size_t>(64 << 10, limits.max_expansion * size) + (1 << 20))
        std::abort();  // the expansion bound holds (plus the one line that crossed it)
    return 0;
}
