// proc_system: load averages, uptime and process counts from /proc/loadavg, /proc/uptime and
// /proc/stat.
#include "proc_common/read_file.hpp"
#include "proc_system/system_stat.hpp"

namespace dmon::plugins::proc_system {

constexpr dmon_option_decl kOptions[] = {
    sdk::option("proc_root", DMON_OPT_STRING, "/proc",
                "where procfs is mounted (a container's host /proc)"),
};

class ProcSystem : public sdk::Collector {
  public:
    explicit ProcSystem(const sdk::Context& context)
        : root_(context.options.string_value("proc_root")) {}

    void collect(sdk::Emitter& out) override {
        // Each file is required: a procfs without one of them is not one dmon can read.
        const auto load = parse_loadavg(read_file(root_ + "/loadavg"));
        const auto uptime = parse_uptime(read_file(root_ + "/uptime"));
        const auto processes = parse_stat_processes(read_file(root_ + "/stat"));
        if (!load)
            throw std::runtime_error(root_ + "/loadavg does not start with three load averages");
        if (!uptime)
            throw std::runtime_error(root_ + "/uptime does not start with a number of seconds");
        if (!processes)
            throw std::runtime_error(root_ + "/stat has no processes/procs_running/procs_blocked");
        emit_all(system_metrics(load, uptime, processes), out);
    }

  private:
    std::string root_;
};

}  // namespace dmon::plugins::proc_system

DMON_COLLECTOR_PLUGIN(dmon::plugins::proc_system::ProcSystem, "proc_system", "1.0.0",
                      "load averages, uptime, processes running/blocked and created, from /proc",
                      dmon::plugins::proc_system::kOptions, 0)
