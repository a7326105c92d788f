#pragma once
// What an exec'd program printed, as samples: one line of line protocol a sample (or a sample a
// field), through the one parser and its limits. A bad line is refused alone, with its reason;
// the good lines of the same output still count.
#include <dmon/line_protocol.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace dmon::plugins::exec {

struct ExecOutput {
    line_protocol::ParsedMessage samples;
    std::map<std::string, uint64_t> refused;  // reason -> lines
    std::string first_refusal;                // "line 3: ..." for the log
};

// Lines without a timestamp take `now_ns`; timestamps outside limits' window are refused.
ExecOutput parse_exec_output(std::string_view text, int64_t now_ns,
                             const line_protocol::Limits& limits);

}  // namespace dmon::plugins::exec
