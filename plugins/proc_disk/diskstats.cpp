#include "proc_disk/diskstats.hpp"

#include "proc_common/text.hpp"

namespace dmon::plugins::proc_disk {

std::vector<DiskCounters> parse_diskstats(std::string_view text) {
    std::vector<DiskCounters> disks;
    for_each_line(text, [&](std::string_view line) {
        // major minor name, then at least 11 counters (kernels since 4.18 add more).
        const auto fields = split_fields(line);
        uint64_t values[11] = {};
        if (!parse_u64_fields(fields, 3, values))
            return;
        DiskCounters disk;
        disk.device = std::string(fields[2]);
        disk.reads = values[0];
        disk.reads_merged = values[1];
        disk.sectors_read = values[2];
        disk.read_ms = values[3];
        disk.writes = values[4];
        disk.writes_merged = values[5];
        disk.sectors_written = values[6];
        disk.write_ms = values[7];
        // values[8] is I/Os in progress, a gauge we do not report.
        disk.io_ms = values[9];
        disks.push_back(std::move(disk));
    });
    return disks;
}

MetricPoints disk_metrics(const std::vector<DiskCounters>& disks, const NameFilter& filter,
                          const std::optional<std::set<std::string>>& whole_disks,
                          bool include_partitions) {
    MetricPoints points;
    constexpr double kSectorBytes = 512;
    for (const auto& disk : disks) {
        if (!filter.accepts(disk.device))
            continue;
        if (whole_disks && !include_partitions && !whole_disks->contains(disk.device))
            continue;
        auto both = [&](const char* name, double read, double write) {
            points.push_back(
                {name, {{"device", disk.device}, {"direction", "read"}}, read, DMON_COUNTER});
            points.push_back(
                {name, {{"device", disk.device}, {"direction", "write"}}, write, DMON_COUNTER});
        };
        auto d = [](uint64_t v) { return static_cast<double>(v); };
        both("system.disk.operations", d(disk.reads), d(disk.writes));
        both("system.disk.io", d(disk.sectors_read) * kSectorBytes,
             d(disk.sectors_written) * kSectorBytes);
        both("system.disk.merged", d(disk.reads_merged), d(disk.writes_merged));
        both("system.disk.operation_time", d(disk.read_ms) / 1000.0, d(disk.write_ms) / 1000.0);
        points.push_back({"system.disk.io_time",
                          {{"device", disk.device}},
                          d(disk.io_ms) / 1000.0,
                          DMON_COUNTER});
    }
    return points;
}

}  // namespace dmon::plugins::proc_disk
