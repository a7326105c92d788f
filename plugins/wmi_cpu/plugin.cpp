// wmi_cpu: CPU time and utilisation from Win32_PerfRawData_PerfOS_Processor.
#include "wmi_common/plugin_base.hpp"

namespace dmon::plugins::wmi {

constexpr dmon_option_decl kOptions[] = {
    sdk::option("per_cpu", DMON_OPT_BOOL, "true",
                "also emit samples for each cpu, not only the total"),
    DMON_WMI_TIMEOUT_OPTION,
};

class WmiCpu : public WmiCollector {
  public:
    explicit WmiCpu(const sdk::Context& context)
        : WmiCollector(context, "Win32_PerfRawData_PerfOS_Processor",
                       {"Name", "PercentIdleTime", "PercentUserTime", "PercentPrivilegedTime",
                        "PercentInterruptTime", "Timestamp_Sys100NS"}),
          metrics_(context.options.bool_value("per_cpu")) {}
    void collect(sdk::Emitter& out) override { emit_all(metrics_.update(rows()), out); }

  private:
    CpuMetrics metrics_;
};

}  // namespace dmon::plugins::wmi

DMON_COLLECTOR_PLUGIN(
    dmon::plugins::wmi::WmiCpu, "wmi_cpu", "1.0.0",
    "CPU time by state and utilisation from WMI Win32_PerfRawData_PerfOS_Processor",
    dmon::plugins::wmi::kOptions, DMON_FLAG_NEEDS_TWO_READINGS)
