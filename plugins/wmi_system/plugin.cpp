// wmi_system: uptime and the number of processes from Win32_OperatingSystem. Windows has no
// load average: system.cpu.load_average.* come from proc_system only.
#include "wmi_common/plugin_base.hpp"
#include "wmi_common/wmi_host_metrics.hpp"

namespace dmon::plugins::wmi {

constexpr dmon_option_decl kOptions[] = {DMON_WMI_TIMEOUT_OPTION};

class WmiSystem : public WmiCollector {
  public:
    explicit WmiSystem(const sdk::Context& context)
        : WmiCollector(context, "Win32_OperatingSystem",
                       {"LastBootUpTime", "LocalDateTime", "NumberOfProcesses"}),
          host_(context.host) {}
    void collect(sdk::Emitter& out) override {
        const auto found = rows();
        if (found.empty())
            throw WmiError("Win32_OperatingSystem returned no instance");
        std::vector<std::string> missing;
        const auto points = system_metrics(found.front(), missing);
        if (points.empty()) {
            std::string names;
            for (const auto& m : missing)
                names += (names.empty() ? "" : ", ") + m;
            throw WmiError("Win32_OperatingSystem gives neither uptime nor processes: no " + names);
        }
        if (!missing.empty() && !warned_) {
            warned_ = true;
            std::string names;
            for (const auto& m : missing)
                names += (names.empty() ? "" : ", ") + m;
            host_.warn("Win32_OperatingSystem has no " + names +
                       " on this system: the samples built on them are left out (said once)");
        }
        emit_all(points, out);
    }

  private:
    sdk::Host host_;
    bool warned_ = false;
};

}  // namespace dmon::plugins::wmi

DMON_COLLECTOR_PLUGIN(dmon::plugins::wmi::WmiSystem, "wmi_system", "1.0.0",
                      "uptime and number of processes from WMI Win32_OperatingSystem",
                      dmon::plugins::wmi::kOptions, 0)
