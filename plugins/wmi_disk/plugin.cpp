// wmi_disk: per-disk operations and bytes from Win32_PerfRawData_PerfDisk_PhysicalDisk.
#include "wmi_common/plugin_base.hpp"

namespace dmon::plugins::wmi {

constexpr dmon_option_decl kOptions[] = {
    sdk::option("devices", DMON_OPT_STRING_LIST, nullptr,
                "glob patterns of disks to include (default: all)"),
    sdk::option("exclude", DMON_OPT_STRING_LIST, nullptr, "glob patterns of disks to leave out"),
    DMON_WMI_TIMEOUT_OPTION,
};

class WmiDisk : public WmiCollector {
  public:
    explicit WmiDisk(const sdk::Context& context)
        : WmiCollector(context, "Win32_PerfRawData_PerfDisk_PhysicalDisk",
                       {"Name", "DiskReadsPersec", "DiskWritesPersec", "DiskReadBytesPersec",
                        "DiskWriteBytesPersec"}),
          metrics_(NameFilter(context.options.list("devices"), context.options.list("exclude"))) {}
    void collect(sdk::Emitter& out) override { emit_all(metrics_.update(rows()), out); }

  private:
    DiskMetrics metrics_;
};

}  // namespace dmon::plugins::wmi

DMON_COLLECTOR_PLUGIN(
    dmon::plugins::wmi::WmiDisk, "wmi_disk", "1.0.0",
    "per-disk read/write operations and bytes from WMI Win32_PerfRawData_PerfDisk_PhysicalDisk",
    dmon::plugins::wmi::kOptions, 0)
