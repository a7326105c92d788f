// proc_cpu: CPU time and utilisation from /proc/stat.
#include "proc_common/read_file.hpp"
#include "proc_cpu/cpu_stat.hpp"

#include <unistd.h>

namespace dmon::plugins::proc_cpu {

constexpr dmon_option_decl kOptions[] = {
    sdk::option("per_cpu", DMON_OPT_BOOL, "true",
                "also emit samples for each cpu, not only the total"),
    sdk::option("proc_root", DMON_OPT_STRING, "/proc",
                "where procfs is mounted (a container's host /proc)"),
};

class ProcCpu : public sdk::Collector {
  public:
    explicit ProcCpu(const sdk::Context& context)
        : path_(context.options.string_value("proc_root") + "/stat"),
          metrics_(static_cast<double>(::sysconf(_SC_CLK_TCK)),
                   context.options.bool_value("per_cpu")) {}

    void collect(sdk::Emitter& out) override {
        const auto reading = parse_proc_stat(read_file(path_));
        if (reading.empty())
            throw std::runtime_error(path_ + " has no cpu lines");
        emit_all(metrics_.update(reading), out);
    }

  private:
    std::string path_;
    CpuMetrics metrics_;
};

}  // namespace dmon::plugins::proc_cpu

DMON_COLLECTOR_PLUGIN(dmon::plugins::proc_cpu::ProcCpu, "proc_cpu", "1.0.0",
                      "CPU time by state and utilisation, total and per cpu, from /proc/stat",
                      dmon::plugins::proc_cpu::kOptions, DMON_FLAG_NEEDS_TWO_READINGS)
