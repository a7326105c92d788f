#pragma once

#include "proc_common/metric_point.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dmon::plugins::proc_cpu {

// The states of a /proc/stat cpu line, in the kernel's order. guest and guest_nice are left
// out: the kernel already counts them in user and nice.
inline constexpr std::array<const char*, 8> kStates = {"user",   "nice", "system",  "idle",
                                                       "iowait", "irq",  "softirq", "steal"};

struct CpuTicks {
    std::string cpu;  // "total" for the aggregate line, else the cpu number ("0", "1", ...)
    std::array<uint64_t, kStates.size()> ticks{};
};

// Parses the cpu lines of /proc/stat. Missing trailing columns (old kernels) read as 0.
std::vector<CpuTicks> parse_proc_stat(std::string_view text);

// Turns successive readings into samples: cumulative `system.cpu.time` per state (seconds)
// and `system.cpu.utilization` (0..1) from the change since the previous reading. The first
// reading, and a cpu whose counters went backwards (a reset or hot-plug), give no utilisation
// for that round rather than a wrong one.
class CpuMetrics {
  public:
    CpuMetrics(double ticks_per_second, bool per_cpu)
        : ticks_per_second_(ticks_per_second), per_cpu_(per_cpu) {}
    MetricPoints update(const std::vector<CpuTicks>& reading);

  private:
    double ticks_per_second_;
    bool per_cpu_;
    std::map<std::string, CpuTicks> previous_;
};

}  // namespace dmon::plugins::proc_cpu
