// proc_mem: physical memory and swap from /proc/meminfo.
#include "proc_common/read_file.hpp"
#include "proc_mem/meminfo.hpp"

namespace dmon::plugins::proc_mem {

constexpr dmon_option_decl kOptions[] = {
    sdk::option("proc_root", DMON_OPT_STRING, "/proc",
                "where procfs is mounted (a container's host /proc)"),
};

class ProcMem : public sdk::Collector {
  public:
    explicit ProcMem(const sdk::Context& context)
        : path_(context.options.string_value("proc_root") + "/meminfo") {}

    void collect(sdk::Emitter& out) override {
        emit_all(memory_metrics(parse_meminfo(read_file(path_))), out);
    }

  private:
    std::string path_;
};

}  // namespace dmon::plugins::proc_mem

DMON_COLLECTOR_PLUGIN(
    dmon::plugins::proc_mem::ProcMem, "proc_mem", "1.0.0",
    "physical memory (limit, used, free, cached, buffered, available) and swap, from /proc/meminfo",
    dmon::plugins::proc_mem::kOptions, 0)
