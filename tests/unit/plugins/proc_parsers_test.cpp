// The proc parsers against recorded /proc text, with exact numbers.
#include "common/name_filter.hpp"
#include "proc_common/read_file.hpp"
#include "proc_cpu/cpu_stat.hpp"
#include "proc_disk/diskstats.hpp"
#include "proc_mem/meminfo.hpp"
#include "proc_net/net_dev.hpp"

#include <gtest/gtest.h>

#include "recorded.hpp"

namespace dmon::plugins {
namespace {

size_t count_named(const MetricPoints& points, const std::string& name) {
    size_t n = 0;
    for (const auto& p : points)
        n += p.name == name;
    return n;
}

TEST(ProcCpu, ParsesEveryCpuLine) {
    const auto cpus = proc_cpu::parse_proc_stat(recorded("stat_1"));
    ASSERT_EQ(cpus.size(), 3u);
    EXPECT_EQ(cpus[0].cpu, "total");
    EXPECT_EQ(cpus[1].cpu, "0");
    EXPECT_EQ(cpus[2].cpu, "1");
    EXPECT_EQ(cpus[0].ticks[0], 10210u);   // user
    EXPECT_EQ(cpus[0].ticks[3], 166209u);  // idle
    EXPECT_EQ(cpus[2].ticks[4], 364u);     // iowait
}

TEST(ProcCpu, FirstRoundHasTimesButNoUtilisation) {
    proc_cpu::CpuMetrics metrics(100, true);
    const auto points = metrics.update(proc_cpu::parse_proc_stat(recorded("stat_1")));
    EXPECT_EQ(count_named(points, "system.cpu.utilization"), 0u);
    EXPECT_EQ(count_named(points, "system.cpu.time"), 3u * 8u);
    EXPECT_DOUBLE_EQ(value_of(points, "system.cpu.time", {{"cpu", "total"}, {"state", "user"}}),
                     102.10);
    EXPECT_DOUBLE_EQ(value_of(points, "system.cpu.time", {{"cpu", "1"}, {"state", "idle"}}),
                     816.40);
    EXPECT_EQ(find_point(points, "system.cpu.time", {{"cpu", "total"}, {"state", "user"}})->type,
              DMON_COUNTER);
}

TEST(ProcCpu, UtilisationFromTheDeltaOfTwoReadings) {
    proc_cpu::CpuMetrics metrics(100, true);
    metrics.update(proc_cpu::parse_proc_stat(recorded("stat_1")));
    const auto points = metrics.update(proc_cpu::parse_proc_stat(recorded("stat_2")));
    // total: busy +150 (user 100, system 50), idle +160 (idle 150, iowait 10)
    EXPECT_DOUBLE_EQ(value_of(points, "system.cpu.utilization", {{"cpu", "total"}}), 150.0 / 310.0);
    EXPECT_DOUBLE_EQ(value_of(points, "system.cpu.utilization", {{"cpu", "0"}}), 0.5);
    EXPECT_DOUBLE_EQ(value_of(points, "system.cpu.utilization", {{"cpu", "1"}}), 75.0 / 160.0);
    EXPECT_EQ(find_point(points, "system.cpu.utilization", {{"cpu", "0"}})->type, DMON_GAUGE);
}

TEST(ProcCpu, CounterThatGoesBackwardsGivesNoUtilisationThatRound) {
    proc_cpu::CpuMetrics metrics(100, true);
    metrics.update(proc_cpu::parse_proc_stat(recorded("stat_1")));
    metrics.update(proc_cpu::parse_proc_stat(recorded("stat_2")));
    const auto points = metrics.update(proc_cpu::parse_proc_stat(recorded("stat_3")));
    EXPECT_EQ(find_point(points, "system.cpu.utilization", {{"cpu", "1"}}), nullptr);
    EXPECT_DOUBLE_EQ(value_of(points, "system.cpu.utilization", {{"cpu", "0"}}), 150.0 / 225.0);
    // The raw counter is still reported: rates at query time treat the drop as a reset.
    EXPECT_DOUBLE_EQ(value_of(points, "system.cpu.time", {{"cpu", "1"}, {"state", "idle"}}), 1.0);
    // And the next round computes from the new base again.
    const auto after = metrics.update(proc_cpu::parse_proc_stat(
        "cpu  1 0 0 1 0 0 0 0\ncpu0 4436 0 1050 84718 13 0 7 6\ncpu1 20 0 5 110 0 0 0 0\n"));
    EXPECT_DOUBLE_EQ(value_of(after, "system.cpu.utilization", {{"cpu", "1"}}), 0.5);
}

TEST(ProcCpu, PerCpuOffKeepsOnlyTheTotal) {
    proc_cpu::CpuMetrics metrics(100, false);
    metrics.update(proc_cpu::parse_proc_stat(recorded("stat_1")));
    const auto points = metrics.update(proc_cpu::parse_proc_stat(recorded("stat_2")));
    for (const auto& point : points)
        EXPECT_EQ(point.labels[0].second, "total") << point.name;
    EXPECT_EQ(count_named(points, "system.cpu.utilization"), 1u);
}

TEST(ProcMem, FiguresAsFreeCountsThem) {
    const auto points = proc_mem::memory_metrics(proc_mem::parse_meminfo(recorded("meminfo")));
    EXPECT_DOUBLE_EQ(value_of(points, "system.memory.limit", {}), 24684084.0 * 1024);
    EXPECT_DOUBLE_EQ(value_of(points, "system.memory.usage", {{"state", "free"}}),
                     24097988.0 * 1024);
    EXPECT_DOUBLE_EQ(value_of(points, "system.memory.usage", {{"state", "buffered"}}),
                     5632.0 * 1024);
    EXPECT_DOUBLE_EQ(value_of(points, "system.memory.usage", {{"state", "cached"}}),
                     (410316.0 + 84700.0) * 1024);
    EXPECT_DOUBLE_EQ(value_of(points, "system.memory.usage", {{"state", "used"}}), 85448.0 * 1024);
    EXPECT_DOUBLE_EQ(value_of(points, "system.memory.available", {}), 24340812.0 * 1024);
    EXPECT_DOUBLE_EQ(value_of(points, "system.paging.usage", {{"state", "used"}}),
                     (2097148.0 - 1048572.0) * 1024);
    EXPECT_DOUBLE_EQ(value_of(points, "system.paging.usage", {{"state", "free"}}),
                     1048572.0 * 1024);
}

TEST(ProcMem, OldKernelWithoutMemAvailableEstimatesIt) {
    const auto points = proc_mem::memory_metrics(proc_mem::parse_meminfo(
        "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n"));
    EXPECT_DOUBLE_EQ(value_of(points, "system.memory.available", {}), 400.0 * 1024);
    EXPECT_DOUBLE_EQ(value_of(points, "system.memory.usage", {{"state", "used"}}), 600.0 * 1024);
}

TEST(ProcMem, MissingMemTotalIsAnError) {
    EXPECT_THROW(proc_mem::memory_metrics(proc_mem::parse_meminfo("MemFree: 1 kB\n")),
                 std::runtime_error);
}

TEST(ProcDisk, WholeDisksByDefaultWithExactCounters) {
    const auto disks = proc_disk::parse_diskstats(recorded("diskstats"));
    ASSERT_EQ(disks.size(), 5u);
    const std::set<std::string> whole = {"loop0", "vda", "nvme0n1"};
    const auto points = proc_disk::disk_metrics(disks, NameFilter({}, {"loop*"}), whole, false);
    EXPECT_DOUBLE_EQ(
        value_of(points, "system.disk.operations", {{"device", "vda"}, {"direction", "read"}}),
        30836);
    EXPECT_DOUBLE_EQ(
        value_of(points, "system.disk.operations", {{"device", "vda"}, {"direction", "write"}}),
        21646);
    EXPECT_DOUBLE_EQ(value_of(points, "system.disk.io", {{"device", "vda"}, {"direction", "read"}}),
                     2750490.0 * 512);
    EXPECT_DOUBLE_EQ(
        value_of(points, "system.disk.io", {{"device", "vda"}, {"direction", "write"}}),
        1645592.0 * 512);
    EXPECT_DOUBLE_EQ(
        value_of(points, "system.disk.operation_time", {{"device", "vda"}, {"direction", "read"}}),
        9.155);
    EXPECT_DOUBLE_EQ(value_of(points, "system.disk.io_time", {{"device", "vda"}}), 6.032);
    // A counter at the top of its 64-bit range is passed on as it is; rates treat a wrap as a
    // reset.
    EXPECT_DOUBLE_EQ(
        value_of(points, "system.disk.operations", {{"device", "nvme0n1"}, {"direction", "read"}}),
        18446744073709551615.0);
    EXPECT_EQ(find_point(points, "system.disk.io", {{"device", "vda1"}, {"direction", "read"}}),
              nullptr);
    EXPECT_EQ(find_point(points, "system.disk.io", {{"device", "loop0"}, {"direction", "read"}}),
              nullptr);
}

TEST(ProcDisk, PatternsAndPartitions) {
    const auto disks = proc_disk::parse_diskstats(recorded("diskstats"));
    const std::set<std::string> whole = {"loop0", "vda", "nvme0n1"};
    const auto points = proc_disk::disk_metrics(disks, NameFilter({"nvme*"}, {}), whole, true);
    EXPECT_NE(
        find_point(points, "system.disk.io", {{"device", "nvme0n1p1"}, {"direction", "write"}}),
        nullptr);
    EXPECT_EQ(find_point(points, "system.disk.io", {{"device", "vda"}, {"direction", "write"}}),
              nullptr);
    EXPECT_EQ(count_named(points, "system.disk.io"), 4u);
}

TEST(ProcDisk, ADiskThatDisappearsIsNoLongerReported) {
    const auto before = proc_disk::disk_metrics(proc_disk::parse_diskstats(recorded("diskstats")),
                                                {}, std::nullopt, false);
    const auto after = proc_disk::disk_metrics(
        proc_disk::parse_diskstats(" 254 0 vda 1 0 8 1 1 0 8 1 0 1 2\n"), {}, std::nullopt, false);
    EXPECT_NE(find_point(before, "system.disk.io_time", {{"device", "nvme0n1"}}), nullptr);
    EXPECT_EQ(find_point(after, "system.disk.io_time", {{"device", "nvme0n1"}}), nullptr);
    EXPECT_DOUBLE_EQ(value_of(after, "system.disk.io", {{"device", "vda"}, {"direction", "read"}}),
                     4096);
}

TEST(ProcDisk, ShortOrGarbledLinesAreSkipped) {
    EXPECT_TRUE(
        proc_disk::parse_diskstats("8 0 sda 1 2 3\n8 0 sdb x 0 0 0 0 0 0 0 0 0 0\n").empty());
}

TEST(ProcNet, CountersPerInterfaceAndDirection) {
    const auto interfaces = proc_net::parse_net_dev(recorded("net_dev"));
    ASSERT_EQ(interfaces.size(), 3u);
    const auto points = proc_net::network_metrics(interfaces, NameFilter({}, {"lo"}));
    EXPECT_DOUBLE_EQ(
        value_of(points, "system.network.io", {{"device", "eth0"}, {"direction", "receive"}}),
        9876543210123.0);
    EXPECT_DOUBLE_EQ(
        value_of(points, "system.network.io", {{"device", "eth0"}, {"direction", "transmit"}}),
        1234567890.0);
    EXPECT_DOUBLE_EQ(
        value_of(points, "system.network.packets", {{"device", "eth0"}, {"direction", "receive"}}),
        7654321);
    EXPECT_DOUBLE_EQ(
        value_of(points, "system.network.errors", {{"device", "eth0"}, {"direction", "receive"}}),
        3);
    EXPECT_DOUBLE_EQ(
        value_of(points, "system.network.errors", {{"device", "eth0"}, {"direction", "transmit"}}),
        1);
    EXPECT_DOUBLE_EQ(
        value_of(points, "system.network.dropped", {{"device", "eth0"}, {"direction", "transmit"}}),
        2);
    EXPECT_EQ(find_point(points, "system.network.io", {{"device", "lo"}, {"direction", "receive"}}),
              nullptr);
    EXPECT_EQ(find_point(points, "system.network.io", {{"device", "lo"}, {"direction", "receive"}}),
              nullptr);
    EXPECT_EQ(points.size(), 2u * 8u);  // eth0 and docker0, 4 metrics x 2 directions
}

TEST(NameFilter, GlobsIncludeAndExclude) {
    EXPECT_TRUE(glob_match("sd*", "sda"));
    EXPECT_TRUE(glob_match("nvme?n1", "nvme0n1"));
    EXPECT_FALSE(glob_match("sd*", "vda"));
    EXPECT_TRUE(glob_match("*", ""));
    EXPECT_FALSE(glob_match("a*b", "acbd"));
    NameFilter filter({"eth*", "en*"}, {"eth9"});
    EXPECT_TRUE(filter.accepts("eth0"));
    EXPECT_FALSE(filter.accepts("eth9"));
    EXPECT_FALSE(filter.accepts("lo"));
    EXPECT_TRUE(NameFilter().accepts("anything"));
}

}  // namespace
}  // namespace dmon::plugins
