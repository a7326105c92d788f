// The built `dmon` binary: exit codes, error lines, and `dmon once` on this machine.
#include "test_support.hpp"

#include <dmon/plugin.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <regex>

namespace dmon::test {
namespace {

const std::string kDmon = DMON_BINARY;
const std::string kSource = DMON_SOURCE_DIR;

TEST(Cli, VersionAndHelp) {
    auto version = run_command(kDmon + " --version");
    EXPECT_EQ(version.exit_code, 0);
    EXPECT_EQ(version.output, "dmon 0.1.0 (plugin ABI 1.3)\n");
    auto help = run_command(kDmon + " --help");
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_NE(help.output.find("run    --config FILE"), std::string::npos);
}

TEST(Cli, PluginInfoListsKindVersionAbiAndOptions) {
    auto info = run_command(kDmon + " plugin info proc_cpu");
    EXPECT_EQ(info.exit_code, 0) << info.output;
    EXPECT_EQ(info.output.rfind("proc_cpu 1.0.0: collector, built for plugin ABI " +
                                    std::to_string(DMON_ABI_MAJOR) + "." +
                                    std::to_string(DMON_ABI_MINOR) +
                                    " (this host: " + std::to_string(DMON_ABI_MAJOR) + "." +
                                    std::to_string(DMON_ABI_MINOR) + ")\n",
                                0),
              0u)
        << info.output;
    EXPECT_NE(info.output.find("\n  per_cpu    bool      default true          also emit samples "
                               "for each cpu, not only the total\n"),
              std::string::npos)
        << info.output;
    EXPECT_NE(info.output.find("keys the host reads on every collector entry: plugin, name, "
                               "interval, isolate, deadline, memory_limit\n"),
              std::string::npos)
        << info.output;
    auto unknown = run_command(kDmon + " plugin info proc_nope");
    EXPECT_EQ(unknown.exit_code, 2);
    EXPECT_NE(unknown.output.find("error: unknown plugin 'proc_nope'"), std::string::npos)
        << unknown.output;
}

TEST(Cli, UsageErrorsExitWithTwo) {
    auto none = run_command(kDmon);
    EXPECT_EQ(none.exit_code, 2);
    EXPECT_EQ(none.output.substr(0, 23), "dmon: no command given\n");
    auto unknown = run_command(kDmon + " frobnicate --config x");
    EXPECT_EQ(unknown.exit_code, 2);
    EXPECT_EQ(unknown.output.rfind("dmon: unknown command 'frobnicate'\n", 0), 0u);
    auto missing = run_command(kDmon + " run");
    EXPECT_EQ(missing.exit_code, 2);
    EXPECT_EQ(missing.output.substr(0, 29), "dmon: 'run' needs --config FI");
}

TEST(Cli, CheckReportsEveryErrorWithFileLineAndColumn) {
    TempFolder folder;
    const auto path = folder.file("bad.yaml",
                                  "collectors:\n"
                                  "  - plugin: proc_cpu\n"
                                  "    per_cpu: sometimes\n"
                                  "  - plugin: proc_dsk\n"
                                  "sinks:\n"
                                  "  - plugin: stdout\n"
                                  "    colour: red\n");
    auto result = run_command(kDmon + " check --config " + path);
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_EQ(
        result.output,
        "error: " + path +
            ":3:14: collector 'proc_cpu': option 'per_cpu' must be true or false; got 'sometimes'\n"
            "error: " +
            path +
            ":4:5: collector 'proc_dsk': unknown plugin 'proc_dsk': no proc_dsk.so "
            "in " DMON_PLUGIN_DIR
            "\n"
            "error: " +
            path +
            ":7:5: sink 'stdout': unknown key 'colour'; valid keys: plugin, name, batch_size, "
            "flush_interval, queue_size, overflow, spool, spool_size, isolate, deadline, "
            "memory_limit, path\n" +
            path + ": 3 error(s)\n");
}

// A sink's own validation runs in `check` (create in check mode): a file in a folder that is
// not there is an error before the service starts, and nothing is created by checking.
TEST(Cli, CheckCreatesSinksInCheckModeWithoutWritingAnything) {
    TempFolder folder;
    const std::string missing = folder.path("no-such-folder");
    const auto path = folder.file("sinks.yaml",
                                  "collectors:\n  - plugin: proc_mem\n"
                                  "sinks:\n  - plugin: stdout\n    path: " +
                                      missing +
                                      "/out.lp\n"
                                      "  - plugin: sqlite_store\n    path: " +
                                      folder.path("metrics.db") + "\n");
    auto result = run_command(kDmon + " check --config " + path);
    EXPECT_EQ(result.exit_code, 2) << result.output;
    EXPECT_NE(result.output.find(":4:5: sink 'stdout': create failed: path " + missing +
                                 "/out.lp: folder " + missing + " does not exist\n"),
              std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("ok  sink 'sqlite_store': sqlite_store "), std::string::npos)
        << result.output;
    EXPECT_FALSE(std::filesystem::exists(folder.path("metrics.db")))
        << "checking created the database";
    auto options_only = run_command(kDmon + " check --no-create --config " + path);
    EXPECT_EQ(options_only.exit_code, 0) << options_only.output;
    EXPECT_NE(options_only.output.find("ok  sink 'stdout': stdout "), std::string::npos);
    EXPECT_NE(options_only.output.find(" (not created: --no-create)\n"), std::string::npos)
        << options_only.output;
}

TEST(Cli, CheckAcceptsTheShippedStandaloneConfig) {
    auto result =
        run_command("cd " + kSource + " && " + kDmon + " check --config config/standalone.yaml");
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find("config/standalone.yaml: 4 collector(s), 2 sink(s), no errors"),
              std::string::npos)
        << result.output;
}

TEST(Cli, OnceCollectsAllFourAreasOnThisMachine) {
    TempFolder folder;
    auto result =
        run_command("cd " + kSource + " && " + kDmon +
                    " once --config config/standalone.yaml --node probe 2>" + folder.path("err"));
    ASSERT_EQ(result.exit_code, 0) << read_text(folder.path("err"));
    std::map<std::string, int> names;
    double memory_limit = -1;
    int utilization_lines = 0;
    const std::regex line(R"(^([a-z_.]+)((?:,[^ ]+)?) (gauge|counter)=([-0-9.e+]+) ([0-9]+)$)");
    std::istringstream in(result.output);
    for (std::string l; std::getline(in, l);) {
        std::smatch m;
        ASSERT_TRUE(std::regex_match(l, m, line)) << l;
        ASSERT_EQ(m[2].str().rfind(",host=probe", 0), 0u) << l;
        names[m[1]]++;
        const double value = std::stod(m[4]);
        if (m[1] == "system.memory.limit")
            memory_limit = value;
        if (m[1] == "system.cpu.utilization") {
            ++utilization_lines;
            EXPECT_GE(value, 0.0) << l;
            EXPECT_LE(value, 1.0) << l;
        }
    }
    for (const char* name : {"system.cpu.time", "system.cpu.utilization", "system.memory.usage",
                             "system.memory.available", "system.paging.usage",
                             "system.disk.operations", "system.disk.io", "system.network.io",
                             "system.network.packets", "system.network.errors"}) {
        EXPECT_GT(names[name], 0) << name << " missing from:\n" << result.output;
    }
    EXPECT_GE(utilization_lines, 1);
    // system.memory.limit is MemTotal, exactly.
    std::smatch m;
    const std::string meminfo = read_text("/proc/meminfo");
    ASSERT_TRUE(std::regex_search(meminfo, m, std::regex(R"(MemTotal:\s+([0-9]+) kB)")));
    EXPECT_EQ(memory_limit, std::stod(m[1]) * 1024);
}

TEST(Cli, RunStopsCleanlyOnSigtermAndFlushes) {
    TempFolder folder;
    const auto out = folder.path("out.lp");
    const auto path = folder.file(
        "run.yaml", "node: runner\nself_metrics: false\nplugin_paths: [" DMON_TEST_PLUGIN_DIR
                    "]\n"
                    "collectors:\n  - plugin: test_counter\n    interval: 100ms\n"
                    "sinks:\n  - plugin: stdout\n    path: " +
                        out +
                        "\n"
                        "    flush_interval: 1h\n");
    auto result =
        run_command("timeout --preserve-status -s TERM 1 " + kDmon + " run --config " + path);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find("signal 15 received: stopping"), std::string::npos)
        << result.output;
    // flush_interval is an hour: every line in the file was written by the shutdown drain.
    const std::string written = read_text(out);
    EXPECT_NE(written.find("test.rounds,host=runner counter=1 "), std::string::npos) << written;
    EXPECT_NE(written.find("test.rounds,host=runner counter=5 "), std::string::npos) << written;
}

}  // namespace
}  // namespace dmon::test

#include "../integration/process.hpp"

#include <thread>

namespace dmon::test {
namespace {

// Issue 9, against the real binary: Ctrl-C on `dmonctl reload` (the client gone before the
// answer) killed dmon with SIGPIPE; a client that connected and said nothing blocked every
// later request. Now dmon lives on, and status answers at once beside a silent client.
TEST(Cli, EarlyLeaversAndSilentClientsCannotStopOrStallTheHost) {
    using namespace std::chrono_literals;
    TempFolder folder;
    const std::string control = folder.path("ctl/host.sock");
    const auto path = folder.file(
        "h.yaml", "node: h\nself_metrics: false\ncontrol: " + control +
                      "\nplugin_paths: [" DMON_TEST_PLUGIN_DIR
                      "]\ncollectors:\n  - plugin: test_counter\n    interval: 100ms\nsinks:\n"
                      "  - plugin: stdout\n    path: " +
                      folder.path("out.lp") + "\n");
    Process host(kDmon + " run --config " + path + " 2>" + folder.path("host.log"));
    for (int i = 0; i < 50 && !std::filesystem::exists(control); ++i)
        std::this_thread::sleep_for(100ms);
    ASSERT_TRUE(std::filesystem::exists(control)) << read_text(folder.path("host.log"));
    // Five clients that ask for a reload and leave at once; one that connects and stays silent.
    for (int i = 0; i < 5; ++i) {
        RawClient leaver(control);
        ASSERT_TRUE(leaver.connected());
        leaver.send("reload\n");
    }
    RawClient silent(control);
    ASSERT_TRUE(silent.connected());
    std::this_thread::sleep_for(1500ms);  // the reloads are done, their answers written to no one
    const auto started = std::chrono::steady_clock::now();
    auto status = run_command(std::string(DMONCTL_BINARY) + " status --control " + control);
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(status.exit_code, 0) << status.output;
    EXPECT_LT(took, 1s);
    EXPECT_TRUE(host.running()) << read_text(folder.path("host.log"));
    EXPECT_EQ(host.stop(), 0);
}

TEST(Cli, DmonctlReloadAndStatusTalkToARunningHost) {
    using namespace std::chrono_literals;
    TempFolder folder;
    const std::string control = folder.path("control.sock");
    const std::string dmonctl = DMONCTL_BINARY;
    auto config = [&](const std::string& extra) {
        return "node: live\nself_metrics: false\ncontrol: " + control +
               "\nplugin_paths: [" DMON_TEST_PLUGIN_DIR
               "]\n"
               "collectors:\n  - plugin: test_counter\n    interval: 100ms\n" +
               extra + "sinks:\n  - plugin: stdout\n    path: " + folder.path("out.lp") + "\n";
    };
    const auto path = folder.file("live.yaml", config(""));
    Process host(kDmon + " run --config " + path + " 2>" + folder.path("host.log"));
    for (int i = 0; i < 50 && !std::filesystem::exists(control); ++i)
        std::this_thread::sleep_for(100ms);

    auto status = run_command(dmonctl + " status --control " + control);
    EXPECT_EQ(status.exit_code, 0) << status.output;
    EXPECT_EQ(status.output.rfind("node live, generation 1, config " + path + "\n", 0), 0u)
        << status.output;
    EXPECT_NE(
        status.output.find("\ntest_counter\tcollector\ttest_counter\t1.0.0\t" DMON_TEST_PLUGIN_DIR
                           "/test_counter.so\trunning\t"),
        std::string::npos)
        << status.output;

    folder.file("live.yaml",
                config("  - plugin: test_counter\n    name: second\n    metric: test.second\n"));
    auto reloaded = run_command(dmonctl + " reload --control " + control);
    EXPECT_EQ(reloaded.exit_code, 0);
    EXPECT_EQ(reloaded.output,
              "reload ok: generation 2\nadded: second\nchanged: -\nremoved: -\nkept: stdout, "
              "test_counter\n");

    folder.file("live.yaml", config("  - plugin: test_counter\n    name: second\n    metric: "
                                    "test.second\n    colour: red\n"));
    auto refused = run_command(dmonctl + " reload --control " + control);
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_EQ(
        refused.output,
        "reload failed; generation 2 keeps running unchanged\nerror: " + path +
            ":11:5: collector 'second' (test_counter): unknown key 'colour'; valid keys: plugin, "
            "name, interval, isolate, deadline, memory_limit, metric\n");

    // SIGHUP reloads too.
    folder.file("live.yaml", config(""));
    host.signal(SIGHUP);
    std::string after;
    for (int i = 0; i < 50; ++i) {
        after = run_command(dmonctl + " status --control " + control).output;
        if (after.find("generation 3") != std::string::npos)
            break;
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_NE(after.find("node live, generation 3"), std::string::npos) << after;
    EXPECT_EQ(after.find("second\tcollector"), std::string::npos) << after;
    EXPECT_EQ(host.stop(), 0);
    EXPECT_FALSE(std::filesystem::exists(control));  // removed on exit

    auto nobody = run_command(dmonctl + " status --control " + control);
    EXPECT_EQ(nobody.exit_code, 1);
    EXPECT_EQ(nobody.output, "error: " + control +
                                 ": no dmon host answers there (No such file or directory); is it "
                                 "running, and is this its 'control:' path?\n");
}

}  // namespace
}  // namespace dmon::test

namespace dmon::test {
namespace {

TEST(Cli, WatchConfigReloadsWhenTheFileChanges) {
    using namespace std::chrono_literals;
    TempFolder folder;
    const std::string control = folder.path("watch.sock");
    auto config = [&](const std::string& interval) {
        return "node: watched\nself_metrics: false\nwatch_config: true\ncontrol: " + control +
               "\nplugin_paths: [" DMON_TEST_PLUGIN_DIR
               "]\ncollectors:\n  - plugin: test_counter\n    interval: " +
               interval + "\nsinks:\n  - plugin: stdout\n    path: " + folder.path("out.lp") + "\n";
    };
    const auto path = folder.file("watched.yaml", config("100ms"));
    Process host(kDmon + " run --config " + path + " 2>" + folder.path("host.log"));
    for (int i = 0; i < 50 && !std::filesystem::exists(control); ++i)
        std::this_thread::sleep_for(100ms);
    std::this_thread::sleep_for(1100ms);  // a modification time the watcher can tell apart
    folder.file("watched.yaml", config("200ms"));
    std::string status;
    for (int i = 0; i < 80; ++i) {
        status = run_command(std::string(DMONCTL_BINARY) + " status --control " + control).output;
        if (status.find("generation 2") != std::string::npos)
            break;
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_NE(status.find("node watched, generation 2"), std::string::npos)
        << status << read_text(folder.path("host.log"));
    EXPECT_EQ(host.stop(), 0);
    EXPECT_NE(read_text(folder.path("host.log")).find("changed: reloading"), std::string::npos);
}

}  // namespace
}  // namespace dmon::test

namespace dmon::test {
namespace {

// What df, /proc/loadavg and /proc/uptime say, read before and after `dmon once`: the figures
// dmon printed must lie between (a block of slack for df, whose figures move as tests write).
struct Bracket {
    double low = 1e300, high = -1e300;
    void add(double v) {
        low = std::min(low, v);
        high = std::max(high, v);
    }
    bool holds(double v, double slack = 0) const { return v >= low - slack && v <= high + slack; }
};

std::map<std::string, double> once_values(const std::string& output,
                                          const std::string& label_filter) {
    std::map<std::string, double> values;  // "name{labels}" -> value, for lines with the filter
    std::istringstream in(output);
    for (std::string line; std::getline(in, line);) {
        if (!label_filter.empty() && line.find(label_filter) == std::string::npos)
            continue;
        const size_t space = line.find(' ');
        const size_t equals = line.find('=', space);
        const size_t end = line.find(' ', equals);
        if (space == std::string::npos || equals == std::string::npos)
            continue;
        values[line.substr(0, space)] = std::stod(line.substr(equals + 1, end - equals - 1));
    }
    return values;
}

TEST(Cli, OnceFilesystemLoadUptimeAndThisTestsOwnGroupAgreeWithTheSystem) {
    TempFolder folder;
    // The group is this test binary: its name as the kernel keeps it (15 bytes at most).
    std::string comm = read_text("/proc/self/comm");
    comm.erase(comm.find_last_not_of('\n') + 1);
    const auto path = folder.file("new.yaml",
                                  "node: probe\nself_metrics: false\ncollectors:\n"
                                  "  - plugin: proc_fs\n    mountpoints: [/]\n"
                                  "  - plugin: proc_system\n"
                                  "  - plugin: proc_process\n    groups:\n      tests: \"^" +
                                      comm + "$\"\n      nothing: \"^no-such-process-here$\"\n");
    Bracket used, avail, load1, uptime;
    const auto sample_system = [&] {
        std::istringstream df(run_command("df -B1 --output=used,avail / | tail -1").output);
        double u = 0, a = 0;
        df >> u >> a;
        used.add(u);
        avail.add(a);
        double l = 0, up = 0;
        std::istringstream(read_text("/proc/loadavg")) >> l;
        std::istringstream(read_text("/proc/uptime")) >> up;
        load1.add(l);
        uptime.add(up);
    };
    std::string rss_before;
    CommandResult result;
    std::string device, disagreement;
    // Other tests write to / meanwhile: a file made and removed between the two df readings moves
    // dmon's figure out of their bracket. Such a round is taken again (at most 5 times); a dmon
    // that reads / wrongly is outside every time. A block of slack, as df rounds; a ThreadSanitizer
    // build of dmon was seen to hold 512 KiB more of / while it runs (its runtime, not dmon's
    // reading), so that build gets 1 MiB.
#if defined(__SANITIZE_THREAD__)
    constexpr double kSlack = 1 << 20;
#else
    constexpr double kSlack = 4096;
#endif
    for (int attempt = 0; attempt < 5; ++attempt) {
        used = avail = load1 = uptime = Bracket{};
        sample_system();
        rss_before = read_text("/proc/self/statm");
        result = run_command(kDmon + " once --config " + path + " 2>" + folder.path("err"));
        sample_system();
        ASSERT_EQ(result.exit_code, 0) << read_text(folder.path("err")) << result.output;
        disagreement.clear();
        for (const auto& [key, value] : once_values(result.output, "mountpoint=/,")) {
            if (key.rfind("system.filesystem.usage", 0) != 0)
                continue;
            const bool is_used = key.find("state=used") != std::string::npos;
            const bool is_free = key.find("state=free") != std::string::npos;
            if (is_used)
                device = key;
            const Bracket& df = is_used ? used : avail;
            if ((is_used || is_free) && !df.holds(value, kSlack)) {
                disagreement += key + " = " + std::to_string(value) + ", df said " +
                                std::to_string(df.low) + ".." + std::to_string(df.high) + "\n";
            }
        }
        if (disagreement.empty())
            break;
    }
    EXPECT_EQ(disagreement, "");
    EXPECT_FALSE(device.empty()) << result.output;
    const auto system = once_values(result.output, "");
    EXPECT_TRUE(load1.holds(system.at("system.cpu.load_average.1m,host=probe")));
    EXPECT_TRUE(uptime.holds(system.at("system.uptime,host=probe"), 0.01));
    EXPECT_GE(system.at("system.processes.count,host=probe,status=running"), 1.0);
    EXPECT_GT(system.at("system.processes.created,host=probe"), 1.0);

    // This test process is in its group, with a resident size like the one it reads itself.
    const auto tests = once_values(result.output, "group=tests");
    EXPECT_GE(tests.at("process.count,host=probe,group=tests"), 1.0);
    const double rss = tests.at("process.memory.usage,host=probe,group=tests");
    long pages = 0, resident = 0;
    std::istringstream(rss_before) >> pages >> resident;
    const double own = static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE));
    EXPECT_GE(rss, own * 0.5) << "own RSS " << own;
    EXPECT_LE(rss, own * 4 + 64e6) << "own RSS " << own;  // gtest may run beside another copy
    EXPECT_GE(tests.at("process.threads,host=probe,group=tests"), 1.0);
    EXPECT_GE(tests.at("process.open_file_descriptors,host=probe,group=tests"), 3.0);
    // A group with no process reports 0, not nothing: "is it running" is a query away.
    EXPECT_EQ(
        once_values(result.output, "group=nothing").at("process.count,host=probe,group=nothing"),
        0.0);
}

TEST(Cli, ExecTakesAScriptsLinesRefusesGarbageAndKillsAHungOne) {
    TempFolder folder;
    const auto script = folder.file("probe.sh",
                                    "#!/bin/sh\n"
                                    "echo \"queue.depth,queue=mail gauge=$QUEUE\"\n"
                                    "echo 'not line protocol at all'\n"
                                    "echo 'jobs,kind=batch done=3i,failed=1i'\n"
                                    "echo 'complaint on stderr' >&2\n");
    ::chmod(script.c_str(), 0755);
    const std::string pids = folder.path("pids");
    const auto hung = folder.file("hung.sh", "#!/bin/sh\nsleep 300 &\necho $! > " + pids +
                                                 "\necho early gauge=1\nsleep 300\n");
    ::chmod(hung.c_str(), 0755);
    const auto path = folder.file("exec.yaml",
                                  "node: probe\nself_metrics: false\ncollectors:\n"
                                  "  - plugin: exec\n    command: [" +
                                      script +
                                      "]\n    env: [QUEUE=12]\n"
                                      "  - plugin: exec\n    name: hung\n    command: [" +
                                      hung +
                                      "]\n"
                                      "    timeout: 500ms\n");
    // run_command takes standard error with the output: the log lines are among the samples.
    auto result = run_command(kDmon + " once --config " + path);
    const std::string& log = result.output;
    EXPECT_EQ(result.exit_code, 1) << log;  // the hung one failed its round
    EXPECT_NE(result.output.find("queue.depth,host=probe,queue=mail gauge=12 "), std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("jobs.done,host=probe,kind=batch gauge=3 "), std::string::npos);
    EXPECT_NE(result.output.find("jobs.failed,host=probe,kind=batch gauge=1 "), std::string::npos);
    EXPECT_EQ(result.output.find("early"), std::string::npos) << "a killed run's lines are dropped";
    EXPECT_NE(log.find("1 line(s) refused, e.g. line 2: "), std::string::npos) << log;
    EXPECT_NE(log.find("stderr: complaint on stderr"), std::string::npos) << log;
    EXPECT_NE(log.find("[hung] collect failed: killed after the timeout of 500 ms"),
              std::string::npos)
        << log;
    // The hung script's own child was killed with it.
    pid_t child = 0;
    std::istringstream(read_text(pids)) >> child;
    ASSERT_GT(child, 0);
    const auto alive = [&] {
        const std::string stat = read_text("/proc/" + std::to_string(child) + "/stat");
        const size_t close = stat.rfind(')');
        return close != std::string::npos && stat.size() > close + 2 && stat[close + 2] != 'Z';
    };
    for (int i = 0; i < 100 && alive(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_FALSE(alive());
}

TEST(Cli, CheckReportsHostKeysAndPluginOptionsTogetherAndWarnsOfWhatMatchesNothing) {
    TempFolder folder;
    const auto path = folder.file("mixed.yaml",
                                  "interval: soon\n"
                                  "plugin_paths: [" +
                                      folder.path("no-such-folder") +
                                      "]\n"
                                      "collectors:\n"
                                      "  - plugin: proc_mem\n    per_cpu: true\n"
                                      "sinks:\n  - plugin: stdout\n");
    auto result = run_command(kDmon + " check --config " + path);
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_NE(result.output.find(path + ":1:11: interval must be a positive duration"),
              std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find(path + ":5:5: collector 'proc_mem': unknown key 'per_cpu'"),
              std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("plugin_paths: folder '" + folder.path("no-such-folder") +
                                 "' does not exist; plugins are looked for in " DMON_PLUGIN_DIR),
              std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find(path + ": 2 error(s)"), std::string::npos) << result.output;

    // Options only a plugin can judge (a regex), and patterns that match nothing on this machine.
    const auto plugin_level =
        folder.file("plugin.yaml",
                    "collectors:\n"
                    "  - plugin: proc_process\n    groups: {bad: \"(x\"}\n"
                    "  - plugin: proc_fs\n    mountpoints: [/no-such-mount*]\n"
                    "  - plugin: proc_net\n    interfaces: [no-such-nic*]\n");
    result = run_command(kDmon + " check --config " + plugin_level);
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_NE(result.output.find("collector 'proc_process': create failed: option 'groups': group "
                                 "'bad': name '(x' is not a regular expression"),
              std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("[proc_fs] option 'mountpoints': pattern '/no-such-mount*' "
                                 "matches nothing here; there are: "),
              std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("[proc_net] option 'interfaces': pattern 'no-such-nic*' matches "
                                 "nothing here; there are: lo"),
              std::string::npos)
        << result.output;
}

}  // namespace
}  // namespace dmon::test
