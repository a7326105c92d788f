// wmi_mem: physical and virtual memory from Win32_OperatingSystem.
#include "wmi_common/plugin_base.hpp"

namespace dmon::plugins::wmi {

constexpr dmon_option_decl kOptions[] = {DMON_WMI_TIMEOUT_OPTION};

class WmiMem : public WmiCollector {
  public:
    explicit WmiMem(const sdk::Context& context)
        : WmiCollector(context, "Win32_OperatingSystem",
                       {"TotalVisibleMemorySize", "FreePhysicalMemory", "TotalVirtualMemorySize",
                        "FreeVirtualMemory"}) {}
    void collect(sdk::Emitter& out) override {
        const auto found = rows();
        if (found.empty())
            throw WmiError("Win32_OperatingSystem returned no instance");
        emit_all(memory_metrics(found.front()), out);
    }
};

}  // namespace dmon::plugins::wmi

DMON_COLLECTOR_PLUGIN(
    dmon::plugins::wmi::WmiMem, "wmi_mem", "1.0.0",
    "physical memory and commit charge (virtual memory) from WMI Win32_OperatingSystem",
    dmon::plugins::wmi::kOptions, 0)
