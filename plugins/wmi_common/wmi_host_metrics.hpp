#pragma once
// Plain C++, no COM: filesystems, uptime and processes from rows of Win32_LogicalDisk,
// Win32_OperatingSystem and Win32_Process, with the same sample names as proc_fs, proc_system
// and proc_process. Tested on Linux with recorded rows.
#include "common/name_filter.hpp"
#include "proc_common/metric_point.hpp"
#include "proc_process/processes.hpp"
#include "wmi_common/wmi_metrics.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dmon::plugins::wmi {

// A CIM datetime, "20241126083000.500000+060" (local time, offset in minutes), as microseconds
// since the Unix epoch (UTC). nullopt for anything else.
std::optional<int64_t> parse_cim_datetime_us(const std::string& text);

// Win32_LogicalDisk: system.filesystem.usage{state=used|free|reserved} and .utilization per
// drive (device and mountpoint "C:", type the FileSystem). Drives without a Size (an empty
// card reader or DVD drive) are left out; Windows keeps no blocks for an administrator: reserved 0.
MetricPoints filesystem_metrics(const std::vector<WmiRow>& disks, const NameFilter& drives,
                                const NameFilter& types);

// Win32_OperatingSystem: system.uptime (LocalDateTime - LastBootUpTime) and
// system.processes.count{status=all} (NumberOfProcesses). `missing` names the properties that
// were not there (Wine's WMI has no NumberOfProcesses): their samples are left out.
MetricPoints system_metrics(const WmiRow& os, std::vector<std::string>& missing);

// The Win32_Process properties read: cpu times in 100 ns, sizes in bytes.
const std::vector<std::string>& process_properties();

// Win32_Process rows as proc_process readings (ticks of 100 ns, pages of 1 byte), classified
// by `rules` on Name (e.g. "nginx.exe") and CommandLine. Rows without a ProcessId are skipped.
std::vector<proc_process::ProcessReading> process_readings(
    const std::vector<WmiRow>& rows, const std::vector<proc_process::GroupRule>& rules);

// The properties no row had (a WMI without them, like Wine's): the samples built on them are
// removed from `points` rather than reported as a false 0.
std::vector<std::string> missing_process_properties(const std::vector<WmiRow>& rows);
void drop_unavailable(MetricPoints& points, const std::vector<std::string>& missing);

// "CLASS has no P1, P2 on this system: the samples built on them are left out (said once)".
std::string missing_properties_warning(const std::string& cls,
                                       const std::vector<std::string>& missing);

}  // namespace dmon::plugins::wmi
