#pragma once
// Plain C++, no COM: turns rows of WMI classes (as text, the way WMI hands over 64-bit
// integers) into dmon samples. Built and tested on Linux with recorded rows.
#include "proc_common/metric_point.hpp"
#include "common/name_filter.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dmon::plugins::wmi {

// One instance of a WMI class: property name -> value as text.
using WmiRow = std::map<std::string, std::string>;

std::optional<uint64_t> unsigned_of(const WmiRow& row, const std::string& property);

// Win32_OperatingSystem. Sizes are in KiB. paging.usage is the commit charge ("virtual
// memory": RAM plus page file), the 2015 assignment's "total and available virtual memory".
MetricPoints memory_metrics(const WmiRow& os);

// Keeps cumulative 64-bit totals of raw counters that may be 32 bits wide (and wrap at 2^32)
// or restart (a device re-plugged). The total starts at the first raw value.
class CounterTotals {
  public:
    uint64_t update(const std::string& key, uint64_t raw);
    void forget_missing(const std::vector<std::string>& present);  // disks and NICs come and go

  private:
    struct State {
        uint64_t last_raw;
        uint64_t total;
    };
    std::map<std::string, State> states_;
};

// Win32_PerfRawData_PerfOS_Processor: cumulative seconds per state (100 ns counters) and
// utilisation from the change of PercentIdleTime against Timestamp_Sys100NS since the last
// round (none on the first round, or when a counter went backwards).
class CpuMetrics {
  public:
    explicit CpuMetrics(bool per_cpu) : per_cpu_(per_cpu) {}
    MetricPoints update(const std::vector<WmiRow>& rows);

  private:
    struct Previous {
        uint64_t idle;
        uint64_t timestamp;
    };
    bool per_cpu_;
    std::map<std::string, Previous> previous_;
};

// Win32_PerfRawData_PerfDisk_PhysicalDisk: reads, writes and bytes per disk ("_Total" left out).
class DiskMetrics {
  public:
    explicit DiskMetrics(NameFilter filter) : filter_(std::move(filter)) {}
    MetricPoints update(const std::vector<WmiRow>& rows);

  private:
    NameFilter filter_;
    CounterTotals totals_;
};

// Win32_PerfRawData_Tcpip_NetworkInterface: bytes, packets, errors, discards per interface.
class NetworkMetrics {
  public:
    explicit NetworkMetrics(NameFilter filter) : filter_(std::move(filter)) {}
    MetricPoints update(const std::vector<WmiRow>& rows);

  private:
    NameFilter filter_;
    CounterTotals totals_;
};

}  // namespace dmon::plugins::wmi
