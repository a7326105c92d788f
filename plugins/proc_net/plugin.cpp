// proc_net: per-interface bytes, packets, errors and drops from /proc/net/dev.
#include "proc_common/read_file.hpp"
#include "proc_net/net_dev.hpp"

namespace dmon::plugins::proc_net {

constexpr dmon_option_decl kOptions[] = {
    sdk::option("interfaces", DMON_OPT_STRING_LIST, nullptr,
                "glob patterns of interfaces to include (default: all)"),
    sdk::option("exclude", DMON_OPT_STRING_LIST, "lo", "glob patterns of interfaces to leave out"),
    sdk::option("proc_root", DMON_OPT_STRING, "/proc", "where procfs is mounted"),
};

class ProcNet : public sdk::Collector {
  public:
    explicit ProcNet(const sdk::Context& context)
        : path_(context.options.string_value("proc_root") + "/net/dev"),
          filter_(context.options.list("interfaces"), context.options.list("exclude")) {
        // A pattern that matches nothing is most often a typo: say so once, at load.
        std::vector<std::string> names;
        for (const auto& interface : parse_net_dev(read_file(path_)))
            names.push_back(interface.device);
        for (const auto& [option, defaults] : {std::pair{"interfaces", ""}, {"exclude", "lo"}}) {
            for (const auto& warning :
                 unmatched_pattern_warnings(option, context.options.list(option), names, defaults))
                context.host.warn(warning);
        }
    }

    void collect(sdk::Emitter& out) override {
        emit_all(network_metrics(parse_net_dev(read_file(path_)), filter_), out);
    }

  private:
    std::string path_;
    NameFilter filter_;
};

}  // namespace dmon::plugins::proc_net

DMON_COLLECTOR_PLUGIN(dmon::plugins::proc_net::ProcNet, "proc_net", "1.0.0",
                      "per-interface bytes, packets, errors and drops from /proc/net/dev",
                      dmon::plugins::proc_net::kOptions, 0)
