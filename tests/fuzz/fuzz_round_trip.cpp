// libFuzzer: any sample the encoder accepts must come back from the parser exactly as it was
// (name, labels in order, value, type, timestamp). This found the '#' name of issue 9.
#include "fuzz_input.hpp"

#include <dmon/line_protocol.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace dmon::line_protocol;
    if (size < 9)
        return 0;
    double value = 0;
    std::memcpy(&value, data, sizeof(value));
    const auto type = (data[8] & 1) ? DMON_COUNTER : DMON_GAUGE;
    const std::vector<std::string> parts = dmon::fuzz::split(data + 9, size - 9);
    std::vector<dmon_label> labels;
    std::set<std::string> keys;
    for (size_t i = 1; i + 1 < parts.size(); i += 2) {
        // The encoder leaves out empty labels; the parser refuses duplicate keys.
        if (parts[i].empty() || parts[i + 1].empty() || !keys.insert(parts[i]).second)
            continue;
        labels.push_back({dmon::to_str(parts[i]), dmon::to_str(parts[i + 1])});
    }
    const int64_t timestamp = 1'700'000'000'000'000'000 + static_cast<int64_t>(size);
    const dmon_sample sample{
        dmon::to_str(parts[0]),     labels.data(), labels.size(), value, timestamp,
        static_cast<uint32_t>(type)};
    std::string text;
    if (!append_sample(text, sample))
        return 0;  // NaN, infinity or an empty name: refused by the encoder, counted by callers
    Limits unlimited;
    unlimited.max_message_bytes = unlimited.max_line_bytes = SIZE_MAX;
    unlimited.max_labels = unlimited.max_fields = SIZE_MAX;
    unlimited.max_name_bytes = unlimited.max_label_key_bytes = SIZE_MAX;
    unlimited.max_label_value_bytes = unlimited.max_expansion = SIZE_MAX / 4;
    ParsedMessage out;
    if (parse_message(text, 0, out, unlimited))
        std::abort();  // the encoder wrote something the parser refuses
    if (out.samples.size() != 1)
        std::abort();  // the sample vanished (a comment) or split in two (a newline)
    const OwnedSample& back = out.samples[0];
    if (back.name != parts[0] || back.timestamp_ns != timestamp || back.type != type ||
        back.value != value)
        std::abort();
    const LabelSet& parsed = out.labels(back);
    if (parsed.size() != labels.size())
        std::abort();
    for (size_t i = 0; i < labels.size(); ++i) {
        if (parsed[i].first != dmon::to_view(labels[i].key) ||
            parsed[i].second != dmon::to_view(labels[i].value))
            std::abort();
    }
    return 0;
}
