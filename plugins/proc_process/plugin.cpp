// proc_process: CPU, memory, disk I/O, threads and descriptors of processes, summed per group
// (a group per rule of the config), so that series stay as many as the groups.
#include "proc_process/group_config.hpp"
#include "proc_process/reader.hpp"

#include <unistd.h>

#include <algorithm>

namespace dmon::plugins::proc_process {

constexpr dmon_option_decl kOptions[] = {
    sdk::option("groups", DMON_OPT_MAP, nullptr,
                "group name -> regex on the executable name, or -> {name, cmdline, user}; a "
                "process counts in the first group it matches",
                true),
    sdk::option("top", DMON_OPT_INT, "0",
                "also report the N processes using the most (labels pid, name; 0: none)"),
    sdk::option("top_by", DMON_OPT_STRING, "cpu", "cpu (time since the last round) or memory"),
    sdk::option("proc_root", DMON_OPT_STRING, "/proc",
                "where procfs is mounted (a container's host /proc)"),
};

class ProcProcess : public sdk::Collector {
  public:
    explicit ProcProcess(const sdk::Context& context)
        : host_(context.host),
          options_(group_options_from(context.options, true)),
          reader_(context.options.string_value("proc_root"), options_.rules),
          groups_(options_.names, static_cast<double>(::sysconf(_SC_CLK_TCK)),
                  static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)), options_.top) {}

    void collect(sdk::Emitter& out) override {
        auto processes = reader_.read_all();
        if (processes.empty())
            throw std::runtime_error("no process could be read under the proc_root");
        const auto top = groups_.top_pids(processes);
        uint64_t refused = 0;
        std::string example;
        for (auto& process : processes) {
            if (process.group < 0 &&
                std::find(top.begin(), top.end(), process.stat.pid) == top.end())
                continue;
            if (!reader_.read_details(process)) {
                ++refused;
                if (example.empty())
                    example = std::to_string(process.stat.pid) + " (" +
                              escape_text(process.stat.comm, 32) + ")";
            }
        }
        if (refused > 0) {
            host_.count("process.unreadable", refused);
            if (!warned_) {
                warned_ = true;
                host_.warn(std::to_string(refused) +
                           " process(es) refused their io or fd counts, e.g. pid " + example +
                           ": another user's; they count without them (dmon.process.unreadable; "
                           "said once). Run as root or with CAP_SYS_PTRACE to read them.");
            }
        }
        emit_all(groups_.update(processes, top), out);
    }

  private:
    sdk::Host host_;
    GroupOptions options_;
    ProcessReader reader_;
    ProcessGroups groups_;
    bool warned_ = false;
};

}  // namespace dmon::plugins::proc_process

DMON_COLLECTOR_PLUGIN(dmon::plugins::proc_process::ProcProcess, "proc_process", "1.0.0",
                      "CPU, memory, disk I/O, threads and descriptors of processes, per group of "
                      "the config (and an optional top N)",
                      dmon::plugins::proc_process::kOptions, 0)
