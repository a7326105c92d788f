// libFuzzer: whatever names, labels and values reach the Prometheus sinks (a controller takes
// them from any agent), the exposition stays valid Prometheus text (every sample line a legal
// name, legal label names, values escaped, one line per sample) and the remote-write request
// decodes back to one sample per input sample.
#include "fuzz_input.hpp"
#include "prometheus_common/exposition.hpp"
#include "prometheus_common/naming.hpp"
#include "write_request.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

bool name_char(char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

[[noreturn]] void fail(const std::string& line) {
    std::fprintf(stderr, "not a valid sample line: %s\n", line.c_str());
    std::abort();
}

// One sample line of the text format: NAME[{k="v",...}] VALUE TIMESTAMP
void check_line(const std::string& line) {
    size_t i = 0;
    if (line.empty() || !name_char(line[0], true))
        fail(line);
    while (i < line.size() && name_char(line[i], i == 0))
        ++i;
    if (i < line.size() && line[i] == '{') {
        ++i;
        while (true) {
            const size_t key = i;
            while (i < line.size() && name_char(line[i], i == key) && line[i] != ':')
                ++i;
            if (i == key || line.compare(i, 2, "=\"") != 0)
                fail(line);
            if (line.compare(key, 2, "__") == 0)
                fail(line);  // a reserved name: it could rename the series
            i += 2;
            while (i < line.size() && line[i] != '"') {
                if (line[i] == '\\') {
                    if (i + 1 >= line.size() || std::strchr("\\\"n", line[i + 1]) == nullptr)
                        fail(line);
                    ++i;
                }
                ++i;
            }
            if (i >= line.size())
                fail(line);
            ++i;  // the closing quote
            if (i < line.size() && line[i] == ',') {
                ++i;
                continue;
            }
            if (i >= line.size() || line[i] != '}')
                fail(line);
            ++i;
            break;
        }
    }
    if (i >= line.size() || line[i] != ' ')
        fail(line);
    if (line.find(' ', i + 1) == std::string::npos)
        fail(line);  // value and timestamp
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace dmon::plugins::prometheus;
    if (size < 9)
        return 0;
    double value = 0;
    std::memcpy(&value, data, sizeof(value));
    const auto type = (data[8] & 1) ? DMON_COUNTER : DMON_GAUGE;
    const std::vector<std::string> parts = dmon::fuzz::split(data + 9, size - 9);
    std::vector<dmon_label> labels;
    for (size_t i = 1; i + 1 < parts.size(); i += 2)
        labels.push_back(
            {{parts[i].data(), parts[i].size()}, {parts[i + 1].data(), parts[i + 1].size()}});
    dmon_sample sample{{parts[0].data(), parts[0].size()},
                       labels.data(),
                       labels.size(),
                       value,
                       1732468800000000000LL + static_cast<int64_t>(size),
                       type};

    // A table of its own per input (fast), holding the sample, a newer value of it, and the same
    // name as the other type (a conflict the table must refuse, not render twice).
    Exposition table({.max_series = 16});
    table.update(sample, 0);
    sample.value = -value;
    sample.timestamp_ns += 1000000;
    table.update(sample, 0);
    dmon_sample other = sample;
    other.type = type == DMON_COUNTER ? DMON_GAUGE : DMON_COUNTER;
    table.update(other, 0);
    std::string text;
    table.render(Format::text, 0, text);
    size_t start = 0;
    while (start < text.size()) {
        const size_t end = text.find('\n', start);
        if (end == std::string::npos)
            std::abort();  // every line ends
        const std::string line = text.substr(start, end - start);
        if (line.rfind("# HELP ", 0) != 0 && line.rfind("# TYPE ", 0) != 0)
            check_line(line);
        start = end + 1;
    }
    std::string open_metrics;
    table.render(Format::openmetrics, 0, open_metrics);
    if (open_metrics.size() < 6 || open_metrics.compare(open_metrics.size() - 6, 6, "# EOF\n") != 0)
        std::abort();

    // Every label value is UTF-8 (Prometheus refuses a whole scrape over one that is not).
    for (const auto& [key, label_value] : sanitized_labels(sample))
        if (valid_utf8(label_value) != label_value)
            std::abort();

    const EncodedRequest request = encode_write_request(&sample, 1, sizeof(sample), true);
    const std::string decoded = decode_write_request_text(request.body);
    if (request.samples != 1 || decoded.empty())
        std::abort();
    return 0;
}
