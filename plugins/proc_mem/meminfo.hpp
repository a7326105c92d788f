#pragma once

#include "proc_common/metric_point.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace dmon::plugins::proc_mem {

// Parses /proc/meminfo into bytes by field name ("MemTotal" -> 16'384'000 * 1024).
std::map<std::string, uint64_t, std::less<>> parse_meminfo(std::string_view text);

// Memory samples as free(1) counts them: cached includes reclaimable slab, and used is what
// is neither free, buffers nor cached. Throws when MemTotal or MemFree is missing.
MetricPoints memory_metrics(const std::map<std::string, uint64_t, std::less<>>& fields);

}  // namespace dmon::plugins::proc_mem
