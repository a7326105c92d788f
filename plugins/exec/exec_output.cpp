#include "exec/exec_output.hpp"

namespace dmon::plugins::exec {

ExecOutput parse_exec_output(std::string_view text, int64_t now_ns,
                             const line_protocol::Limits& limits) {
    ExecOutput result;
    line_protocol::ParsedLine line;
    size_t number = 0;
    size_t cost = 0;
    const size_t budget = std::max<size_t>(64 << 10, limits.max_expansion * text.size());
    const auto refuse = [&](const std::string& reason, const std::string& detail) {
        ++result.refused[reason];
        if (result.first_refusal.empty())
            result.first_refusal = "line " + std::to_string(number) + ": " + detail;
    };
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string_view::npos)
            end = text.size();
        const std::string_view raw = text.substr(start, end - start);
        start = end + 1;
        ++number;
        if (raw.empty() || raw == "\r" || raw.front() == '#')
            continue;
        if (auto rejection = line_protocol::parse_line(raw, line, limits)) {
            refuse(rejection.reason, rejection.detail);
            continue;
        }
        const int64_t timestamp = line.has_timestamp ? line.timestamp_ns : now_ns;
        if (timestamp < limits.oldest_ns || timestamp > limits.newest_ns) {
            refuse(timestamp < limits.oldest_ns ? "timestamp_too_old" : "timestamp_in_future",
                   "timestamp " + std::to_string(timestamp) + " is outside the accepted window");
            continue;
        }
        cost += line_protocol::append_samples(line, now_ns, result.samples);
        if (cost > budget) {
            result.samples.clear();
            refuse("amplification", "the samples would take more than " +
                                        std::to_string(limits.max_expansion) +
                                        " times the output's size");
            return result;
        }
    }
    return result;
}

}  // namespace dmon::plugins::exec
