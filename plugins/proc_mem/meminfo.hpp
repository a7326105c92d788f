#pragma once

#include "proc_common/metric_point.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace dmon::plugins::proc_mem {

// Parses /proc/meminfo into bytes by field name ("MemTotal" -> 16'384'000 * 1024).
std::map<std::string, uint64_t, std::less<>> parse_meminfo(std::string_view text);

// Memory samples: cached includes reclaimable slab, and used is what is neither free, buffers
// nor cached, so the four states add up to MemTotal (procps 3.3's `free`; procps 4 prints
// MemTotal - MemAvailable as used instead: docs/metrics.md, "Memory used"). Throws when
// MemTotal or MemFree is missing.
MetricPoints memory_metrics(const std::map<std::string, uint64_t, std::less<>>& fields);

}  // namespace dmon::plugins::proc_mem
