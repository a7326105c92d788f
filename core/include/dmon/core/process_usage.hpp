#pragma once

#include <cstdint>

namespace dmon::core {

// What this process costs so far: CPU time and resident memory (process.* self-metrics).
struct ProcessUsage {
    double user_cpu_seconds = 0;
    double system_cpu_seconds = 0;
    uint64_t resident_bytes = 0;
};
ProcessUsage process_usage();

}  // namespace dmon::core
