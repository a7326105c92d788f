// wmi_net: per-interface bytes, packets, errors and discards from
// Win32_PerfRawData_Tcpip_NetworkInterface.
#include "wmi_common/plugin_base.hpp"

namespace dmon::plugins::wmi {

constexpr dmon_option_decl kOptions[] = {
    sdk::option("interfaces", DMON_OPT_STRING_LIST, nullptr,
                "glob patterns of interfaces to include (default: all)"),
    sdk::option("exclude", DMON_OPT_STRING_LIST, "*isatap*,*Loopback*",
                "glob patterns of interfaces to leave out"),
    DMON_WMI_TIMEOUT_OPTION,
};

class WmiNet : public WmiCollector {
  public:
    explicit WmiNet(const sdk::Context& context)
        : WmiCollector(context, "Win32_PerfRawData_Tcpip_NetworkInterface",
                       {"Name", "BytesReceivedPersec", "BytesSentPersec", "PacketsReceivedPersec",
                        "PacketsSentPersec", "PacketsReceivedErrors", "PacketsOutboundErrors",
                        "PacketsReceivedDiscarded", "PacketsOutboundDiscarded"}),
          metrics_(
              NameFilter(context.options.list("interfaces"), context.options.list("exclude"))) {}
    void collect(sdk::Emitter& out) override { emit_all(metrics_.update(rows()), out); }

  private:
    NetworkMetrics metrics_;
};

}  // namespace dmon::plugins::wmi

DMON_COLLECTOR_PLUGIN(dmon::plugins::wmi::WmiNet, "wmi_net", "1.0.0",
                      "per-interface bytes, packets, errors and discards from WMI "
                      "Win32_PerfRawData_Tcpip_NetworkInterface",
                      dmon::plugins::wmi::kOptions, 0)
