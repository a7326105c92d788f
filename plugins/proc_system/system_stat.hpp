#pragma once

#include "proc_common/metric_point.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace dmon::plugins::proc_system {

struct LoadAverage {
    double one = 0, five = 0, fifteen = 0;
};

// /proc/loadavg: "0.52 0.58 0.59 2/1139 12345"; nullopt when the first three are not numbers.
std::optional<LoadAverage> parse_loadavg(std::string_view text);

// /proc/uptime: "350735.47 234388.90" (seconds up, seconds idle summed over cpus).
std::optional<double> parse_uptime(std::string_view text);

// The process lines of /proc/stat: forks since boot and tasks running or blocked on I/O now.
struct ProcessCounts {
    uint64_t created = 0;  // "processes"
    uint64_t running = 0;  // "procs_running"
    uint64_t blocked = 0;  // "procs_blocked"
};
std::optional<ProcessCounts> parse_stat_processes(std::string_view text);

// system.cpu.load_average.{1m,5m,15m}, system.uptime, system.processes.count{status},
// system.processes.created. A part that was not read (nullopt) is left out.
MetricPoints system_metrics(const std::optional<LoadAverage>& load,
                            const std::optional<double>& uptime_seconds,
                            const std::optional<ProcessCounts>& processes);

}  // namespace dmon::plugins::proc_system
