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
