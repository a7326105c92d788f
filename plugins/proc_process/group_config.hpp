#pragma once
// The `groups`, `top` and `top_by` options as proc_process and wmi_process both read them.
#include "proc_process/processes.hpp"

#include <dmon/plugin.hpp>

#include <stdexcept>

namespace dmon::plugins::proc_process {

inline GroupOptions group_options_from(const sdk::Options& options, bool user_rules_supported) {
    std::vector<RuleEntry> entries;
    for (auto& entry : options.map("groups"))
        entries.push_back({entry.key, entry.field, entry.value});
    try {
        return group_options(entries, options.integer_value("top"), options.string_value("top_by"),
                             user_rules_supported);
    } catch (const std::invalid_argument& e) {
        throw sdk::InvalidInput(e.what());
    }
}

}  // namespace dmon::plugins::proc_process
