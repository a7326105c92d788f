#pragma once

#include "proc_common/metric_point.hpp"
#include "common/name_filter.hpp"

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace dmon::plugins::proc_disk {

struct DiskCounters {
    std::string device;
    uint64_t reads = 0, reads_merged = 0, sectors_read = 0, read_ms = 0;
    uint64_t writes = 0, writes_merged = 0, sectors_written = 0, write_ms = 0;
    uint64_t io_ms = 0;
};

// Parses /proc/diskstats (14 or more columns per line; shorter lines are skipped).
std::vector<DiskCounters> parse_diskstats(std::string_view text);

// Cumulative counters per device: operations, bytes (sectors are always 512 bytes in
// diskstats), merged operations, time spent. `whole_disks` (the names in /sys/block), when
// given, keeps partitions out unless include_partitions is set.
MetricPoints disk_metrics(const std::vector<DiskCounters>& disks, const NameFilter& filter,
                          const std::optional<std::set<std::string>>& whole_disks,
                          bool include_partitions);

}  // namespace dmon::plugins::proc_disk
