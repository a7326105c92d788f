// wmi_fs: size and free space of each drive from Win32_LogicalDisk (the WMI query has its own
// timeout, so a network drive that hangs costs one timeout, not the host).
#include "wmi_common/plugin_base.hpp"
#include "wmi_common/wmi_host_metrics.hpp"

namespace dmon::plugins::wmi {

constexpr dmon_option_decl kOptions[] = {
    sdk::option("drives", DMON_OPT_STRING_LIST, nullptr,
                "glob patterns of drives to include, e.g. C: (default: all)"),
    sdk::option("exclude_drives", DMON_OPT_STRING_LIST, nullptr,
                "glob patterns of drives to leave out"),
    sdk::option("types", DMON_OPT_STRING_LIST, nullptr,
                "glob patterns of filesystems to include, e.g. NTFS (default: all)"),
    sdk::option("exclude_types", DMON_OPT_STRING_LIST, nullptr,
                "glob patterns of filesystems to leave out"),
    DMON_WMI_TIMEOUT_OPTION,
};

class WmiFs : public WmiCollector {
  public:
    explicit WmiFs(const sdk::Context& context)
        : WmiCollector(context, "Win32_LogicalDisk",
                       {"DeviceID", "FileSystem", "Size", "FreeSpace"}),
          drives_(context.options.list("drives"), context.options.list("exclude_drives")),
          types_(context.options.list("types"), context.options.list("exclude_types")) {}
    void collect(sdk::Emitter& out) override {
        emit_all(filesystem_metrics(rows(), drives_, types_), out);
    }

  private:
    NameFilter drives_;
    NameFilter types_;
};

}  // namespace dmon::plugins::wmi

DMON_COLLECTOR_PLUGIN(dmon::plugins::wmi::WmiFs, "wmi_fs", "1.0.0",
                      "size, use and free space of each drive from WMI Win32_LogicalDisk",
                      dmon::plugins::wmi::kOptions, 0)
