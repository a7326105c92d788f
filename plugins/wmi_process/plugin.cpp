// wmi_process: CPU, memory, I/O, threads and handles of processes from Win32_Process, summed
// per group of the config exactly as proc_process does on Linux (same names, same rules).
#include "wmi_common/plugin_base.hpp"
#include "wmi_common/wmi_host_metrics.hpp"

#include <algorithm>

namespace dmon::plugins::wmi {

constexpr dmon_option_decl kOptions[] = {
    sdk::option("groups", DMON_OPT_MAP, nullptr,
                "group name -> regex on the executable name (e.g. \"^nginx\\\\.exe$\"), or -> "
                "{name, cmdline}; a process counts in the first group it matches",
                true),
    sdk::option("top", DMON_OPT_INT, "0",
                "also report the N processes using the most (labels pid, name; 0: none)"),
    sdk::option("top_by", DMON_OPT_STRING, "cpu", "cpu (time since the last round) or memory"),
    DMON_WMI_TIMEOUT_OPTION,
};

std::vector<proc_process::GroupRule> rules_from(const sdk::Options& options) {
    std::vector<proc_process::RuleEntry> entries;
    for (auto& entry : options.map("groups"))
        entries.push_back({entry.key, entry.field, entry.value});
    if (entries.empty())
        throw sdk::InvalidInput("option 'groups' lists no group");
    try {
        auto rules = proc_process::parse_group_rules(entries);
        if (proc_process::rules_need_user(rules))
            throw std::invalid_argument("a `user:` rule is not supported on Windows yet");
        return rules;
    } catch (const std::invalid_argument& e) {
        throw sdk::InvalidInput(std::string("option 'groups': ") + e.what());
    }
}

std::vector<std::string> names_of(const std::vector<proc_process::GroupRule>& rules) {
    std::vector<std::string> names;
    for (const auto& rule : rules)
        names.push_back(rule.group);
    return names;
}

proc_process::TopSpec top_from(const sdk::Options& options) {
    const int64_t count = options.integer_value("top");
    const std::string by = options.string_value("top_by");
    if (count < 0 || count > 100 || (by != "cpu" && by != "memory"))
        throw sdk::InvalidInput("option 'top' must be 0..100 and 'top_by' cpu or memory");
    return {static_cast<size_t>(count), by == "memory"};
}

class WmiProcess : public WmiCollector {
  public:
    explicit WmiProcess(const sdk::Context& context)
        : WmiCollector(context, "Win32_Process", process_properties()),
          host_(context.host),
          rules_(rules_from(context.options)),
          // Win32_Process counts CPU time in 100 ns units and memory in bytes.
          groups_(names_of(rules_), 1e7, 1, top_from(context.options)) {}

    void collect(sdk::Emitter& out) override {
        const auto found = rows();
        if (found.empty())
            throw WmiError("Win32_Process returned no process");
        const auto missing = missing_process_properties(found);
        if (!missing.empty() && !warned_) {
            warned_ = true;
            std::string names;
            for (const auto& m : missing)
                names += (names.empty() ? "" : ", ") + m;
            host_.warn("Win32_Process has no " + names +
                       " on this system: the samples built on them are left out (said once)");
        }
        auto points = groups_.update(process_readings(found, rules_));
        drop_unavailable(points, missing);
        emit_all(points, out);
    }

  private:
    sdk::Host host_;
    std::vector<proc_process::GroupRule> rules_;
    proc_process::ProcessGroups groups_;
    bool warned_ = false;
};

}  // namespace dmon::plugins::wmi

DMON_COLLECTOR_PLUGIN(dmon::plugins::wmi::WmiProcess, "wmi_process", "1.0.0",
                      "CPU, memory, I/O, threads and handles of processes per group, from WMI "
                      "Win32_Process",
                      dmon::plugins::wmi::kOptions, 0)
