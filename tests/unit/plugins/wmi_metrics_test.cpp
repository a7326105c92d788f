// The WMI arithmetic with recorded rows and exact numbers: no COM involved, so it runs on Linux
// (and, in the Windows build, under Wine).
#include "wmi_common/wmi_metrics.hpp"

#include <gtest/gtest.h>

namespace dmon::plugins::wmi {
namespace {

double value_of(const MetricPoints& points, const std::string& name,
                const std::vector<std::pair<std::string, std::string>>& labels) {
    const MetricPoint* point = find_point(points, name, labels);
    EXPECT_NE(point, nullptr) << name;
    return point ? point->value : -1;
}

TEST(WmiMemory, FromWin32OperatingSystem) {
    // Recorded from Wine on a 24 GiB machine (sizes in KiB, 64-bit values as strings).
    const WmiRow os = {{"TotalVisibleMemorySize", "24684080"},
                       {"FreePhysicalMemory", "23596452"},
                       {"TotalVirtualMemorySize", "26781232"},
                       {"FreeVirtualMemory", "25000000"}};
    const auto points = memory_metrics(os);
    EXPECT_DOUBLE_EQ(value_of(points, "system.memory.limit", {}), 24684080.0 * 1024);
    EXPECT_DOUBLE_EQ(value_of(points, "system.memory.usage", {{"state", "used"}}),
                     (24684080.0 - 23596452.0) * 1024);
    EXPECT_DOUBLE_EQ(value_of(points, "system.memory.available", {}), 23596452.0 * 1024);
    EXPECT_DOUBLE_EQ(value_of(points, "system.paging.usage", {{"state", "used"}}),
                     (26781232.0 - 25000000.0) * 1024);
    EXPECT_DOUBLE_EQ(value_of(points, "system.paging.usage", {{"state", "free"}}),
                     25000000.0 * 1024);
}

TEST(WmiMemory, AMissingPropertyIsAnError) {
    EXPECT_THROW(memory_metrics({{"TotalVisibleMemorySize", "1"}}), std::runtime_error);
}

std::vector<WmiRow> processors(uint64_t total_idle, uint64_t cpu0_idle, uint64_t timestamp) {
    return {{{"Name", "_Total"},
             {"PercentIdleTime", std::to_string(total_idle)},
             {"PercentUserTime", "30000000"},
             {"PercentPrivilegedTime", "10000000"},
             {"PercentInterruptTime", "0"},
             {"Timestamp_Sys100NS", std::to_string(timestamp)}},
            {{"Name", "0"},
             {"PercentIdleTime", std::to_string(cpu0_idle)},
             {"PercentUserTime", "15000000"},
             {"PercentPrivilegedTime", "5000000"},
             {"PercentInterruptTime", "0"},
             {"Timestamp_Sys100NS", std::to_string(timestamp)}}};
}

TEST(WmiCpu, FirstRoundHasTimesButNoUtilisation) {
    CpuMetrics metrics(true);
    const auto points = metrics.update(processors(100'000'000, 50'000'000, 1'000'000'000));
    EXPECT_EQ(find_point(points, "system.cpu.utilization", {{"cpu", "total"}}), nullptr);
    EXPECT_DOUBLE_EQ(value_of(points, "system.cpu.time", {{"cpu", "total"}, {"state", "idle"}}),
                     10.0);
    EXPECT_DOUBLE_EQ(value_of(points, "system.cpu.time", {{"cpu", "0"}, {"state", "user"}}), 1.5);
}

TEST(WmiCpu, UtilisationFromIdleAgainstTheTimestamp) {
    CpuMetrics metrics(true);
    metrics.update(processors(100'000'000, 50'000'000, 1'000'000'000));
    // 1 s later (10,000,000 x 100 ns): total idle 0.75 s, cpu0 idle 0.25 s.
    const auto points = metrics.update(processors(107'500'000, 52'500'000, 1'010'000'000));
    EXPECT_DOUBLE_EQ(value_of(points, "system.cpu.utilization", {{"cpu", "total"}}), 0.25);
    EXPECT_DOUBLE_EQ(value_of(points, "system.cpu.utilization", {{"cpu", "0"}}), 0.75);
}

TEST(WmiCpu, ACounterGoingBackwardsGivesNoUtilisation) {
    CpuMetrics metrics(false);
    metrics.update(processors(100'000'000, 50'000'000, 1'000'000'000));
    const auto points = metrics.update(processors(90'000'000, 40'000'000, 1'010'000'000));
    EXPECT_EQ(find_point(points, "system.cpu.utilization", {{"cpu", "total"}}), nullptr);
    EXPECT_EQ(find_point(points, "system.cpu.time", {{"cpu", "0"}, {"state", "idle"}}),
              nullptr);  // per_cpu off
}

WmiRow disk(const std::string& name, uint64_t reads, uint64_t read_bytes) {
    return {{"Name", name},
            {"DiskReadsPersec", std::to_string(reads)},
            {"DiskWritesPersec", "7"},
            {"DiskReadBytesPersec", std::to_string(read_bytes)},
            {"DiskWriteBytesPersec", "4096"}};
}

TEST(WmiDisk, PerDiskCountersWithoutTheTotal) {
    DiskMetrics metrics({});
    const auto points =
        metrics.update({disk("0 C:", 10, 40960), disk("1 D:", 3, 512), disk("_Total", 13, 41472)});
    EXPECT_DOUBLE_EQ(
        value_of(points, "system.disk.operations", {{"device", "0 C:"}, {"direction", "read"}}),
        10);
    EXPECT_DOUBLE_EQ(
        value_of(points, "system.disk.io", {{"device", "1 D:"}, {"direction", "read"}}), 512);
    EXPECT_DOUBLE_EQ(
        value_of(points, "system.disk.io", {{"device", "0 C:"}, {"direction", "write"}}), 4096);
    EXPECT_EQ(find_point(points, "system.disk.io", {{"device", "_Total"}, {"direction", "read"}}),
              nullptr);
    EXPECT_EQ(points.size(), 8u);
}

TEST(WmiDisk, ADiskThatDisappearsAndComesBackStartsAfresh) {
    DiskMetrics metrics({});
    metrics.update({disk("0 C:", 10, 100), disk("1 E:", 500, 5000)});
    const auto without = metrics.update({disk("0 C:", 12, 200)});
    EXPECT_EQ(find_point(without, "system.disk.io", {{"device", "1 E:"}, {"direction", "read"}}),
              nullptr);
    const auto back = metrics.update({disk("0 C:", 13, 300), disk("1 E:", 2, 20)});
    // Re-plugged: its counters restarted, and so does its total (a reset that rates skip).
    EXPECT_DOUBLE_EQ(
        value_of(back, "system.disk.operations", {{"device", "1 E:"}, {"direction", "read"}}), 2);
    EXPECT_DOUBLE_EQ(
        value_of(back, "system.disk.operations", {{"device", "0 C:"}, {"direction", "read"}}), 13);
}

WmiRow nic(uint64_t bytes_received, uint64_t packets_received) {
    return {{"Name", "Intel[R] Ethernet"},
            {"BytesReceivedPersec", std::to_string(bytes_received)},
            {"BytesSentPersec", "1000"},
            {"PacketsReceivedPersec", std::to_string(packets_received)},
            {"PacketsSentPersec", "10"},
            {"PacketsReceivedErrors", "1"},
            {"PacketsOutboundErrors", "2"},
            {"PacketsReceivedDiscarded", "3"},
            {"PacketsOutboundDiscarded", "4"}};
}

TEST(WmiNetwork, A32BitCounterThatWrapsKeepsCounting) {
    NetworkMetrics metrics({});
    const std::vector<std::pair<std::string, std::string>> rx = {{"device", "Intel[R] Ethernet"},
                                                                 {"direction", "receive"}};
    EXPECT_DOUBLE_EQ(value_of(metrics.update({nic(4'294'967'000, 100)}), "system.network.io", rx),
                     4'294'967'000.0);
    // The 32-bit counter wrapped: 296 bytes to the top, then 704 more.
    EXPECT_DOUBLE_EQ(value_of(metrics.update({nic(704, 150)}), "system.network.io", rx),
                     4'294'968'000.0);
    const auto points = metrics.update({nic(1704, 200)});
    EXPECT_DOUBLE_EQ(value_of(points, "system.network.io", rx), 4'294'969'000.0);
    EXPECT_DOUBLE_EQ(value_of(points, "system.network.packets", rx), 200);
    EXPECT_DOUBLE_EQ(value_of(points, "system.network.errors",
                              {{"device", "Intel[R] Ethernet"}, {"direction", "transmit"}}),
                     2);
    EXPECT_DOUBLE_EQ(value_of(points, "system.network.dropped", rx), 3);
}

TEST(WmiNetwork, A64BitCounterThatDropsIsARestart) {
    CounterTotals totals;
    EXPECT_EQ(totals.update("x", 10'000'000'000), 10'000'000'000u);
    EXPECT_EQ(totals.update("x", 5), 10'000'000'005u);
}

}  // namespace
}  // namespace dmon::plugins::wmi

#include "wmi_common/wmi_host_metrics.hpp"

namespace dmon::plugins::wmi {
namespace {

TEST(WmiHost, CimDatetimeToUtcMicroseconds) {
    // 2024-11-26 08:30:00.5 at UTC+1 is 07:30:00.5 UTC = 1732606200.5 s since the epoch.
    EXPECT_EQ(parse_cim_datetime_us("20241126083000.500000+060"), 1732606200500000);
    EXPECT_EQ(parse_cim_datetime_us("19700101000000.000000+000"), 0);
    EXPECT_EQ(parse_cim_datetime_us("20240229235959.999999-300"),
              (int64_t{1709251199} + 5 * 3600) * 1'000'000 + 999999);                // UTC-5: +5 h
    EXPECT_EQ(parse_cim_datetime_us("20241126083000.500000+00"), 1732609800500000);  // Wine
    EXPECT_EQ(parse_cim_datetime_us(std::string("20241126083000.500000+00 \0", 26)),
              1732609800500000);
    EXPECT_FALSE(parse_cim_datetime_us(""));
    EXPECT_FALSE(parse_cim_datetime_us("20241126083000.500000+"));
    EXPECT_FALSE(parse_cim_datetime_us("20241326083000.500000+060"));  // month 13
    EXPECT_FALSE(parse_cim_datetime_us("2024112608300x.500000+060"));
}

TEST(WmiHost, DrivesWithSizeAndFreeSpace) {
    const std::vector<WmiRow> disks{
        {{"DeviceID", "C:"},
         {"FileSystem", "NTFS"},
         {"Size", "107374182400"},
         {"FreeSpace", "42949672960"}},
        {{"DeviceID", "D:"}},  // an empty DVD drive: no size
        {{"DeviceID", "Z:"}, {"FileSystem", "NFS"}, {"Size", "1000"}, {"FreeSpace", "250"}}};
    const auto points = filesystem_metrics(disks, NameFilter(), NameFilter({}, {"NFS"}));
    ASSERT_EQ(points.size(), 4u);
    const std::vector<std::pair<std::string, std::string>> c{
        {"device", "C:"}, {"mountpoint", "C:"}, {"type", "NTFS"}};
    auto with = [&](const char* state) {
        auto l = c;
        l.emplace_back("state", state);
        return l;
    };
    EXPECT_EQ(find_point(points, "system.filesystem.usage", with("used"))->value, 64424509440.0);
    EXPECT_EQ(find_point(points, "system.filesystem.usage", with("free"))->value, 42949672960.0);
    EXPECT_EQ(find_point(points, "system.filesystem.usage", with("reserved"))->value, 0.0);
    EXPECT_DOUBLE_EQ(find_point(points, "system.filesystem.utilization", c)->value, 0.6);
}

TEST(WmiHost, UptimeAndProcessesAndWhatIsMissing) {
    std::vector<std::string> missing;
    auto points = system_metrics({{"LastBootUpTime", "20241126080000.000000+060"},
                                  {"LocalDateTime", "20241126093000.250000+060"},
                                  {"NumberOfProcesses", "123"}},
                                 missing);
    EXPECT_TRUE(missing.empty());
    EXPECT_EQ(find_point(points, "system.uptime", {})->value, 5400.25);
    EXPECT_EQ(find_point(points, "system.processes.count", {{"status", "all"}})->value, 123.0);
    // Wine's Win32_OperatingSystem has no NumberOfProcesses: named, and its sample left out.
    points = system_metrics({{"LastBootUpTime", "20241126080000.000000+000"},
                             {"LocalDateTime", "20241126080010.000000+000"}},
                            missing);
    EXPECT_EQ(missing, std::vector<std::string>{"NumberOfProcesses"});
    ASSERT_EQ(points.size(), 1u);
    EXPECT_EQ(points[0].value, 10.0);
}

TEST(WmiHost, ProcessesGroupedAsOnLinuxAndMissingPropertiesLeftOut) {
    const auto rules = proc_process::parse_group_rules({{"web", "", "^nginx\\.exe$"}});
    const std::vector<WmiRow> rows{{{"Name", "nginx.exe"},
                                    {"ProcessId", "100"},
                                    {"CreationDate", "20241126080000.000000+000"},
                                    {"UserModeTime", "20000000"},
                                    {"KernelModeTime", "5000000"},
                                    {"WorkingSetSize", "1048576"},
                                    {"VirtualSize", "4194304"},
                                    {"ThreadCount", "4"},
                                    {"HandleCount", "50"},
                                    {"ReadTransferCount", "10"},
                                    {"WriteTransferCount", "20"}},
                                   {{"Name", "nginx.exe"},
                                    {"ProcessId", "101"},
                                    {"CreationDate", "20241126080001.000000+000"},
                                    {"UserModeTime", "10000000"},
                                    {"KernelModeTime", "0"},
                                    {"WorkingSetSize", "1048576"},
                                    {"VirtualSize", "4194304"},
                                    {"ThreadCount", "2"},
                                    {"HandleCount", "30"},
                                    {"ReadTransferCount", "0"},
                                    {"WriteTransferCount", "0"}},
                                   {{"Name", "svchost.exe"}, {"ProcessId", "4"}}};
    proc_process::ProcessGroups groups({"web"}, 1e7, 1, {});
    auto points = groups.update(process_readings(rows, rules));
    const std::vector<std::pair<std::string, std::string>> web{{"group", "web"}};
    EXPECT_EQ(find_point(points, "process.count", web)->value, 2.0);
    EXPECT_EQ(find_point(points, "process.cpu.time", {{"group", "web"}, {"state", "user"}})->value,
              3.0);
    EXPECT_EQ(find_point(points, "process.memory.usage", web)->value, 2097152.0);
    EXPECT_EQ(find_point(points, "process.open_file_descriptors", web)->value, 80.0);
    EXPECT_TRUE(missing_process_properties(rows).empty());

    // Wine's Win32_Process: no times, no virtual size, no transfer counts.
    const std::vector<WmiRow> wine{{{"Name", "nginx.exe"},
                                    {"ProcessId", "100"},
                                    {"WorkingSetSize", "1048576"},
                                    {"ThreadCount", "4"}}};
    const auto missing = missing_process_properties(wine);
    EXPECT_EQ(missing,
              (std::vector<std::string>{"UserModeTime", "KernelModeTime", "VirtualSize",
                                        "HandleCount", "ReadTransferCount", "WriteTransferCount"}));
    proc_process::ProcessGroups wine_groups({"web"}, 1e7, 1, {});
    points = wine_groups.update(process_readings(wine, rules));
    drop_unavailable(points, missing);
    EXPECT_EQ(find_point(points, "process.cpu.time", {{"group", "web"}, {"state", "user"}}),
              nullptr);
    EXPECT_EQ(find_point(points, "process.disk.io", {{"group", "web"}, {"direction", "read"}}),
              nullptr);
    EXPECT_EQ(find_point(points, "process.memory.usage", web)->value, 1048576.0);
    EXPECT_EQ(find_point(points, "process.threads", web)->value, 4.0);
}

}  // namespace
}  // namespace dmon::plugins::wmi
