// The parsers of proc_fs, proc_system, proc_process and exec against recorded text, with exact
// numbers. Portable: these run under Wine too.
#include "exec/exec_output.hpp"
#include "proc_common/read_file.hpp"
#include "proc_fs/filesystems.hpp"
#include "proc_process/processes.hpp"
#include "proc_system/system_stat.hpp"

#include <gtest/gtest.h>

#include "recorded.hpp"

namespace dmon::plugins {
namespace {

// ---- proc_fs -------------------------------------------------------------------------------

TEST(ProcFs, MountTableWithEscapesAndAMountOverAnother) {
    const auto mounts = proc_fs::parse_mounts(recorded("mounts"));
    std::vector<std::string> points;
    for (const auto& m : mounts)
        points.push_back(m.mountpoint);
    // /run is listed twice: the later mount (over the first) is the one kept, in its place.
    EXPECT_EQ(points,
              (std::vector<std::string>{"/sys", "/proc", "/", "/mnt/backup disk", "/mnt/nfs\ttab",
                                        "/boot/efi", "/run", "/sys/fs/cgroup"}));
    EXPECT_EQ(mounts[3], (proc_fs::Mount{"/dev/sdb1", "/mnt/backup disk", "xfs", true}));
    EXPECT_EQ(mounts[4].device, "server:/export/odd\\name");
    EXPECT_EQ(mounts[4].type, "nfs4");
    EXPECT_FALSE(mounts[2].read_only);
}

TEST(ProcFs, DefaultFilterLeavesKernelInterfacesOut) {
    proc_fs::MountFilter filter{NameFilter({}, {"cgroup2", "proc", "sysfs"}),
                                NameFilter({}, {"/proc/*", "/sys/*"})};
    std::vector<std::string> kept;
    for (const auto& m : proc_fs::parse_mounts(recorded("mounts"))) {
        if (filter.accepts(m))
            kept.push_back(m.mountpoint);
    }
    EXPECT_EQ(kept, (std::vector<std::string>{"/", "/mnt/backup disk", "/mnt/nfs\ttab", "/boot/efi",
                                              "/run"}));
    // Every default pseudo type is a type name, not a pattern that could catch a real one.
    EXPECT_EQ(std::string(proc_fs::kPseudoTypes).find('*'), std::string::npos);
}

TEST(ProcFs, UsageAsDfComputesIt) {
    // statvfs of an ext4 with 5 % reserved: 1000 blocks of 4096, 300 free, 250 for users.
    const proc_fs::Mount root{"/dev/sda2", "/", "ext4", false};
    const proc_fs::FsStats stats{4096, 1000, 300, 250, 640, 600};
    MetricPoints points;
    proc_fs::append_filesystem_metrics(root, stats, true, points);
    const auto labels = [](const char* state) {
        return std::vector<std::pair<std::string, std::string>>{
            {"device", "/dev/sda2"}, {"mountpoint", "/"}, {"type", "ext4"}, {"state", state}};
    };
    EXPECT_EQ(value_of(points, "system.filesystem.usage", labels("used")), 700.0 * 4096);
    EXPECT_EQ(value_of(points, "system.filesystem.usage", labels("free")), 250.0 * 4096);
    EXPECT_EQ(value_of(points, "system.filesystem.usage", labels("reserved")), 50.0 * 4096);
    EXPECT_DOUBLE_EQ(value_of(points, "system.filesystem.utilization",
                              {{"device", "/dev/sda2"}, {"mountpoint", "/"}, {"type", "ext4"}}),
                     700.0 / 950.0);  // df's Use%: 74 %
    EXPECT_EQ(value_of(points, "system.filesystem.inodes.usage", labels("used")), 40.0);
    EXPECT_EQ(value_of(points, "system.filesystem.inodes.usage", labels("free")), 600.0);
    EXPECT_EQ(points.size(), 6u);
    // A filesystem without inode counts (vfat: f_files 0) reports none; an empty one, 0 %.
    MetricPoints vfat;
    proc_fs::append_filesystem_metrics({"/dev/sda1", "/boot/efi", "vfat", false},
                                       {512, 0, 0, 0, 0, 0}, true, vfat);
    EXPECT_EQ(vfat.size(), 4u);
    EXPECT_EQ(value_of(vfat, "system.filesystem.utilization",
                       {{"device", "/dev/sda1"}, {"mountpoint", "/boot/efi"}, {"type", "vfat"}}),
              0.0);
    // Counts that contradict each other are clamped, never wrap around.
    MetricPoints odd;
    proc_fs::append_filesystem_metrics(root, {4096, 100, 150, 200, 10, 20}, true, odd);
    EXPECT_EQ(value_of(odd, "system.filesystem.usage", labels("used")), 0.0);
    EXPECT_EQ(value_of(odd, "system.filesystem.usage", labels("free")), 100.0 * 4096);
    EXPECT_EQ(value_of(odd, "system.filesystem.inodes.usage", labels("used")), 0.0);
}

TEST(ProcFs, PatternThatMatchesNothingIsNamedWithWhatExists) {
    const std::vector<std::string> names{"/", "/boot/efi", "/run"};
    EXPECT_EQ(unmatched_pattern_warnings("mountpoints", {"/", "/data*"}, names),
              std::vector<std::string>{"option 'mountpoints': pattern '/data*' matches nothing "
                                       "here; there are: /, /boot/efi, /run"});
    // A default that matches nothing is not worth a word.
    EXPECT_TRUE(
        unmatched_pattern_warnings("exclude", {"/snap/*"}, names, "/proc/*,/snap/*").empty());
    EXPECT_EQ(unmatched_pattern_warnings("types", {"zfs"}, {}).at(0),
              "option 'types': pattern 'zfs' matches nothing here; there are: none");
}

// ---- proc_system ---------------------------------------------------------------------------

TEST(ProcSystem, LoadUptimeAndProcesses) {
    const auto points =
        proc_system::system_metrics(proc_system::parse_loadavg(recorded("loadavg")),
                                    proc_system::parse_uptime(recorded("uptime")),
                                    proc_system::parse_stat_processes(recorded("stat_system")));
    ASSERT_EQ(points.size(), 7u);
    EXPECT_EQ(value_of(points, "system.cpu.load_average.1m", {}), 0.52);
    EXPECT_EQ(value_of(points, "system.cpu.load_average.5m", {}), 0.58);
    EXPECT_EQ(value_of(points, "system.cpu.load_average.15m", {}), 1.59);
    EXPECT_EQ(value_of(points, "system.uptime", {}), 350735.47);
    EXPECT_EQ(value_of(points, "system.processes.count", {{"status", "running"}}), 3.0);
    EXPECT_EQ(value_of(points, "system.processes.count", {{"status", "blocked"}}), 1.0);
    EXPECT_EQ(value_of(points, "system.processes.created", {}), 221398.0);
    EXPECT_EQ(find_point(points, "system.processes.created", {})->type, DMON_COUNTER);
}

TEST(ProcSystem, TextThatIsNotTheFileGivesNothing) {
    EXPECT_FALSE(proc_system::parse_loadavg("0.52 x 0.59 1/2 3\n"));
    EXPECT_FALSE(proc_system::parse_loadavg(""));
    EXPECT_FALSE(proc_system::parse_uptime("-5 3\n"));
    EXPECT_FALSE(proc_system::parse_stat_processes(recorded("stat_1")));  // no process lines
    EXPECT_TRUE(proc_system::system_metrics(std::nullopt, std::nullopt, std::nullopt).empty());
}

// ---- proc_process --------------------------------------------------------------------------

TEST(ProcProcess, StatWithParenthesesInTheName) {
    const auto stat = proc_process::parse_pid_stat(recorded("pid_stat"));
    ASSERT_TRUE(stat);
    EXPECT_EQ(stat->pid, 4242);
    EXPECT_EQ(stat->comm, "my (odd) name");
    EXPECT_EQ(stat->state, 'S');
    EXPECT_EQ(stat->user_ticks, 1234u);
    EXPECT_EQ(stat->system_ticks, 567u);
    EXPECT_EQ(stat->threads, 7);
    EXPECT_EQ(stat->start_ticks, 98765u);
    EXPECT_EQ(stat->virtual_bytes, 1052672000u);
    EXPECT_EQ(stat->resident_pages, 2560);
    const auto io = proc_process::parse_pid_io(recorded("pid_io"));
    ASSERT_TRUE(io);
    EXPECT_EQ(io->read_bytes, 4096u);
    EXPECT_EQ(io->write_bytes, 8192u);
    EXPECT_EQ(proc_process::parse_cmdline(std::string("nginx: worker\0-g\0daemon off;\0", 29)),
              "nginx: worker -g daemon off;");
    // Cut short (the process exited mid-read) or not a stat line at all: nothing.
    EXPECT_FALSE(proc_process::parse_pid_stat("4242 (cut) S 1 2 3"));
    EXPECT_FALSE(proc_process::parse_pid_stat("no parentheses"));
    EXPECT_FALSE(proc_process::parse_pid_io("read_bytes: 1\n"));
}

proc_process::ProcessReading process(int64_t pid, const std::string& comm, uint64_t user,
                                     uint64_t system, uint64_t start, int group,
                                     int64_t rss_pages = 10, uint64_t read = 0) {
    proc_process::ProcessReading p;
    p.stat.pid = pid;
    p.stat.comm = comm;
    p.stat.user_ticks = user;
    p.stat.system_ticks = system;
    p.stat.start_ticks = start;
    p.stat.threads = 2;
    p.stat.virtual_bytes = 1000;
    p.stat.resident_pages = rss_pages;
    p.group = group;
    p.io = proc_process::PidIo{read, 0};
    p.open_fds = 5;
    return p;
}

TEST(ProcProcess, RulesClassifyByNameCommandLineAndUserFirstMatchWins) {
    const auto rules = proc_process::parse_group_rules({{"web", "", "^nginx"},
                                                        {"db", "name", "^postgres"},
                                                        {"db", "user", "postgres"},
                                                        {"java", "cmdline", "-jar app\\.jar"},
                                                        {"rest", "", "."}});
    ASSERT_EQ(rules.size(), 4u);
    auto p = process(1, "nginx", 0, 0, 1, -1);
    EXPECT_EQ(proc_process::classify(rules, p), 0);
    p.stat.comm = "postgres";
    p.user = "postgres";
    EXPECT_EQ(proc_process::classify(rules, p), 1);
    p.user = "root";  // the name matches, the user does not: the next rule that fits
    EXPECT_EQ(proc_process::classify(rules, p), 3);
    p.stat.comm = "java";
    p.cmdline = "/usr/bin/java -jar app.jar";
    EXPECT_EQ(proc_process::classify(rules, p), 2);
    EXPECT_TRUE(proc_process::rules_need_cmdline(rules));
    EXPECT_TRUE(proc_process::rules_need_user(rules));
    EXPECT_THROW(proc_process::parse_group_rules({{"bad", "", "(unclosed"}}),
                 std::invalid_argument);
    EXPECT_THROW(proc_process::parse_group_rules({{"g", "exe", "x"}}), std::invalid_argument);
    EXPECT_THROW(proc_process::parse_group_rules({{"a", "", "x"}, {"b", "", "y"}, {"a", "", "z"}}),
                 std::invalid_argument);
}

TEST(ProcProcess, GroupCountersNeverGoBackWhenProcessesComeAndGoOrPidsAreReused) {
    proc_process::ProcessGroups groups({"web"}, 100, 4096, {});
    const std::vector<std::pair<std::string, std::string>> user{{"group", "web"},
                                                                {"state", "user"}};
    const std::vector<std::pair<std::string, std::string>> web{{"group", "web"}};
    // Round 1: two workers.
    auto points = groups.update({process(10, "nginx", 100, 50, 1000, 0, 10, 4096),
                                 process(11, "nginx", 200, 0, 1001, 0, 20, 0)});
    EXPECT_DOUBLE_EQ(value_of(points, "process.cpu.time", user), 3.0);
    EXPECT_EQ(value_of(points, "process.count", web), 2.0);
    EXPECT_EQ(value_of(points, "process.memory.usage", web), 30.0 * 4096);
    EXPECT_EQ(value_of(points, "process.threads", web), 4.0);
    EXPECT_EQ(value_of(points, "process.open_file_descriptors", web), 10.0);
    EXPECT_EQ(value_of(points, "process.disk.io", {{"group", "web"}, {"direction", "read"}}),
              4096.0);
    // Round 2: pid 11 exited, and pid 10 is now another process (start time differs) that has
    // used less than the old one: the group keeps what both old ones used.
    points = groups.update({process(10, "nginx", 5, 0, 2000, 0, 10, 0)});
    EXPECT_DOUBLE_EQ(value_of(points, "process.cpu.time", user), 3.05);
    EXPECT_EQ(value_of(points, "process.count", web), 1.0);
    EXPECT_EQ(value_of(points, "process.disk.io", {{"group", "web"}, {"direction", "read"}}),
              4096.0);
    // Round 3: nobody left; the counters stay where they were, the gauges go to 0.
    points = groups.update({});
    EXPECT_DOUBLE_EQ(value_of(points, "process.cpu.time", user), 3.05);
    EXPECT_EQ(value_of(points, "process.count", web), 0.0);
    EXPECT_EQ(value_of(points, "process.memory.usage", web), 0.0);
    // No descriptor count when none could be read, rather than a false 0.
    EXPECT_EQ(find_point(points, "process.open_file_descriptors", web), nullptr);
}

TEST(ProcProcess, TopByCpuUsesTheTimeSinceTheLastRound) {
    proc_process::ProcessGroups groups({}, 100, 4096, {2, false});
    groups.update({process(1, "busy_once", 1000, 0, 1, -1), process(2, "steady", 10, 0, 1, -1),
                   process(3, "idle", 5, 0, 1, -1)});
    // Since then: steady +50, idle +1, busy_once +0. The top two are steady and idle.
    const std::vector<proc_process::ProcessReading> now{process(1, "busy_once", 1000, 0, 1, -1),
                                                        process(2, "steady", 60, 0, 1, -1),
                                                        process(3, "idle", 6, 0, 1, -1)};
    EXPECT_EQ(groups.top_pids(now), (std::vector<int64_t>{2, 3}));
    const auto points = groups.update(now);
    EXPECT_DOUBLE_EQ(
        value_of(points, "process.cpu.time",
                 {{"group", "top"}, {"pid", "2"}, {"name", "steady"}, {"state", "user"}}),
        0.6);
    EXPECT_EQ(find_point(points, "process.memory.usage",
                         {{"group", "top"}, {"pid", "1"}, {"name", "busy_once"}}),
              nullptr);
    proc_process::ProcessGroups by_memory({}, 100, 4096, {1, true});
    EXPECT_EQ(
        by_memory.top_pids({process(1, "a", 0, 0, 1, -1, 10), process(2, "b", 0, 0, 1, -1, 99)}),
        (std::vector<int64_t>{2}));
}

// ---- exec ----------------------------------------------------------------------------------

TEST(ExecOutput, GoodLinesCountAndBadOnesAreRefusedOneByOne) {
    line_protocol::Limits limits;
    limits.oldest_ns = 1000;
    limits.newest_ns = 5000;
    const auto out = exec::parse_exec_output(
        "# a comment\n"
        "queue.depth,queue=mail gauge=12\n"
        "this is not line protocol\n"
        "jobs,kind=batch done=3i,failed=1i 2000\n"
        "jobs.total counter=77 9000\n"
        "temp value=NaN\n",
        3000, limits);
    ASSERT_EQ(out.samples.samples.size(), 3u);
    const auto& first = out.samples.samples[0];
    EXPECT_EQ(first.name, "queue.depth");
    EXPECT_EQ(first.value, 12.0);
    EXPECT_EQ(first.timestamp_ns, 3000);
    EXPECT_EQ(out.samples.labels(first), (line_protocol::LabelSet{{"queue", "mail"}}));
    EXPECT_EQ(out.samples.samples[1].name, "jobs.done");
    EXPECT_EQ(out.samples.samples[1].timestamp_ns, 2000);
    EXPECT_EQ(out.samples.samples[2].name, "jobs.failed");
    EXPECT_EQ(out.refused, (std::map<std::string, uint64_t>{
                               {"malformed", 1}, {"not_finite", 1}, {"timestamp_in_future", 1}}));
    EXPECT_EQ(out.first_refusal.rfind("line 3: ", 0), 0u) << out.first_refusal;
}

}  // namespace
}  // namespace dmon::plugins
