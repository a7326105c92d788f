// wmi_process: CPU, memory, I/O, threads and handles of processes from Win32_Process, summed
// per group of the config exactly as proc_process does on Linux (same names, same rules).
#include "proc_process/group_config.hpp"
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

class WmiProcess : public WmiCollector {
  public:
    explicit WmiProcess(const sdk::Context& context)
        : WmiCollector(context, "Win32_Process", process_properties()),
          host_(context.host),
          options_(proc_process::group_options_from(context.options, false)),
          // Win32_Process counts CPU time in 100 ns units and memory in bytes.
          groups_(options_.names, 1e7, 1, options_.top) {}

    void collect(sdk::Emitter& out) override {
        const auto found = rows();
        if (found.empty())
            throw WmiError("Win32_Process returned no process");
        const auto missing = missing_process_properties(found);
        if (!missing.empty() && !warned_) {
            warned_ = true;
            host_.warn(missing_properties_warning("Win32_Process", missing));
        }
        auto points = groups_.update(process_readings(found, options_.rules));
        drop_unavailable(points, missing);
        emit_all(points, out);
    }

  private:
    sdk::Host host_;
    proc_process::GroupOptions options_;
    proc_process::ProcessGroups groups_;
    bool warned_ = false;
};

}  // namespace dmon::plugins::wmi

DMON_COLLECTOR_PLUGIN(dmon::plugins::wmi::WmiProcess, "wmi_process", "1.0.0",
                      "CPU, memory, I/O, threads and handles of processes per group, from WMI "
                      "Win32_Process",
                      dmon::plugins::wmi::kOptions, 0)
