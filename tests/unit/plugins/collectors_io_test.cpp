// The I/O halves of the new collectors (Linux): statvfs on a worker with a hung mount stubbed,
// the process reader on a folder laid out like /proc, and programs run with a deadline.
#include "../../host/test_support.hpp"
#include "exec/child_process.hpp"
#include "proc_fs/mount_prober.hpp"
#include "proc_process/reader.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <future>

namespace dmon::plugins {
namespace {

using namespace std::chrono_literals;
using Outcome = proc_fs::MountProber::Outcome;

// statvfs stubbed: /hung blocks until released, /gone is unmounted, the rest answer.
struct StubStat {
    std::shared_future<void> release;
    std::shared_ptr<std::atomic<int>> hung_calls = std::make_shared<std::atomic<int>>(0);
    int operator()(const std::string& path, proc_fs::FsStats& out) const {
        if (path == "/gone")
            return ENOENT;
        if (path == "/denied")
            return EACCES;
        if (path == "/hung") {
            ++*hung_calls;
            release.wait();
        }
        out = proc_fs::FsStats{4096, 100, 50, 40, 10, 5};
        return 0;
    }
};

TEST(MountProber, AHungMountTimesOutOnceThenIsSkippedUntilItAnswers) {
    std::promise<void> release;
    StubStat stub{release.get_future().share()};
    std::atomic<int> abandoned{0};
    {
        proc_fs::MountProber prober(stub, 200ms, [&] { ++abandoned; });
        const std::vector<std::string> paths{"/", "/hung", "/gone", "/denied", "/home"};
        auto results = prober.probe(paths);
        ASSERT_EQ(results.size(), 5u);
        EXPECT_EQ(results[0].outcome, Outcome::ok);
        EXPECT_EQ(results[0].stats.blocks, 100u);
        EXPECT_EQ(results[1].outcome, Outcome::timed_out);
        EXPECT_EQ(results[2].outcome, Outcome::gone);
        EXPECT_EQ(results[3].outcome, Outcome::failed);
        EXPECT_EQ(results[3].error, EACCES);
        // The mounts after the hung one were still asked, by a new worker.
        EXPECT_EQ(results[4].outcome, Outcome::ok);
        EXPECT_EQ(abandoned.load(), 1);
        EXPECT_EQ(prober.stuck(), std::vector<std::string>{"/hung"});

        // Next rounds: skipped without a new call or a new thread, the others answer.
        for (int round = 0; round < 3; ++round) {
            results = prober.probe(paths);
            EXPECT_EQ(results[1].outcome, Outcome::stuck);
            EXPECT_EQ(results[0].outcome, Outcome::ok);
            EXPECT_EQ(results[4].outcome, Outcome::ok);
        }
        EXPECT_EQ(stub.hung_calls->load(), 1);
        EXPECT_EQ(abandoned.load(), 1);

        // It answers: the next round asks it again.
        release.set_value();
        for (int i = 0; i < 100 && !prober.stuck().empty(); ++i)
            std::this_thread::sleep_for(10ms);
        EXPECT_TRUE(prober.stuck().empty());
        results = prober.probe(paths);
        EXPECT_EQ(results[1].outcome, Outcome::ok);
        EXPECT_EQ(stub.hung_calls->load(), 2);
    }
    EXPECT_EQ(abandoned.load(), 1);  // destroyed idle: joined, nothing left behind
}

TEST(MountProber, DestroyedWhileACallHangsLeavesItBehindInsteadOfBlocking) {
    std::promise<void> release;
    StubStat stub{release.get_future().share()};
    std::atomic<int> abandoned{0};
    {
        proc_fs::MountProber prober(stub, 100ms, [&] { ++abandoned; });
        EXPECT_EQ(prober.probe({"/hung"})[0].outcome, Outcome::timed_out);
        EXPECT_EQ(prober.probe({"/"})[0].outcome, Outcome::ok);
    }
    EXPECT_EQ(abandoned.load(), 1);
    release.set_value();  // the parked thread returns and ends on its own
}

// ---- ProcessReader -------------------------------------------------------------------------

TEST(ProcessReader, ReadsAFolderLaidOutLikeProcAndSkipsWhatVanished) {
    test::TempFolder proc;
    const auto make = [&](const std::string& pid, const std::string& comm, bool with_io, int fds) {
        std::filesystem::create_directories(proc.path(pid + "/fd"));
        proc.file(pid + "/stat", pid + " (" + comm +
                                     ") S 1 1 1 0 -1 0 0 0 0 0 300 100 0 0 20 0 3 0 5000 "
                                     "2000000 50 0 0 0\n");
        proc.file(pid + "/cmdline", std::string("/usr/sbin/") + comm + '\0' + "-f" + '\0');
        if (with_io)
            proc.file(pid + "/io", "read_bytes: 100\nwrite_bytes: 200\n");
        for (int i = 0; i < fds; ++i)
            proc.file(pid + "/fd/" + std::to_string(i), "");
    };
    make("100", "nginx", true, 3);
    make("101", "nginx worker", true, 2);
    make("200", "sshd", false, 0);
    std::filesystem::create_directories(proc.path("300"));  // exited between listing and read
    proc.file("self", "not a pid");
    proc.file("loadavg", "0 0 0 1/1 1");

    const auto rules = proc_process::parse_group_rules({{"web", "", "^nginx"}});
    proc_process::ProcessReader reader(proc.path(""), rules);
    auto processes = reader.read_all();
    ASSERT_EQ(processes.size(), 3u);
    std::sort(processes.begin(), processes.end(),
              [](const auto& a, const auto& b) { return a.stat.pid < b.stat.pid; });
    EXPECT_EQ(processes[1].stat.comm, "nginx worker");
    EXPECT_EQ(processes[0].group, 0);
    EXPECT_EQ(processes[1].group, 0);
    EXPECT_EQ(processes[2].group, -1);
    EXPECT_TRUE(reader.read_details(processes[0]));
    ASSERT_TRUE(processes[0].io);
    EXPECT_EQ(processes[0].io->write_bytes, 200u);
    EXPECT_EQ(processes[0].open_fds, 3u);
    // No io file (it exited, or the kernel has no task I/O accounting): no io, not "refused".
    EXPECT_TRUE(reader.read_details(processes[2]));
    EXPECT_FALSE(processes[2].io);

    proc_process::ProcessGroups groups({"web"}, 100, 4096, {});
    const auto points = groups.update(processes);
    EXPECT_EQ(find_point(points, "process.count", {{"group", "web"}})->value, 2.0);
    EXPECT_DOUBLE_EQ(
        find_point(points, "process.cpu.time", {{"group", "web"}, {"state", "user"}})->value, 6.0);
    // Rules on the command line read it; the user is the owner of the pid's folder.
    const auto by_cmdline = proc_process::parse_group_rules({{"ssh", "cmdline", "sbin/sshd -f"}});
    proc_process::ProcessReader cmdline_reader(proc.path(""), by_cmdline);
    int ssh = 0;
    for (const auto& p : cmdline_reader.read_all())
        ssh += p.group == 0;
    EXPECT_EQ(ssh, 1);
}

TEST(ProcessReader, ThisProcessIsFoundInTheRealProc) {
    std::string comm = test::read_text("/proc/self/comm");
    comm.erase(comm.find_last_not_of('\n') + 1);
    const auto rules = proc_process::parse_group_rules({{"me", "", "^" + comm + "$"}});
    proc_process::ProcessReader reader("/proc", rules);
    int found = 0;
    for (auto& p : reader.read_all()) {
        if (p.stat.pid != ::getpid())
            continue;
        ++found;
        EXPECT_EQ(p.group, 0);
        EXPECT_TRUE(reader.read_details(p));
        EXPECT_TRUE(p.io);
        EXPECT_GE(p.open_fds.value_or(0), 3u);
        EXPECT_GT(p.stat.resident_pages, 100);  // more than 400 kB: a gtest binary is resident
    }
    EXPECT_EQ(found, 1);
}

// ---- run_program ---------------------------------------------------------------------------

bool alive(pid_t pid) {
    // A zombie is not alive: it has run its course, and is its parent's to reap.
    const std::string stat = test::read_text("/proc/" + std::to_string(pid) + "/stat");
    if (stat.empty())
        return false;
    const size_t close = stat.rfind(')');
    return close != std::string::npos && stat.size() > close + 2 && stat[close + 2] != 'Z';
}

TEST(RunProgram, OutputErrorsExitCodeEnvironmentAndFolder) {
    test::TempFolder folder;
    exec::RunSpec spec;
    spec.argv = {"/bin/sh", "-c", "echo \"x,at=$(pwd) gauge=$PROBE_VALUE\"; echo oops >&2; exit 3"};
    spec.environment = {"PATH=/usr/bin:/bin", "PROBE_VALUE=7"};
    spec.working_directory = folder.path("");
    const auto result = exec::run_program(spec);
    ASSERT_TRUE(result.started) << result.start_error;
    EXPECT_EQ(result.exit_code, 3);
    EXPECT_FALSE(result.timed_out);
    EXPECT_EQ(result.errors, "oops\n");
    EXPECT_EQ(result.output,
              "x,at=" + std::filesystem::canonical(folder.path("")).string() + " gauge=7\n");
    // Looked up in PATH when it has no '/'; a missing program is a reason, not a crash.
    spec.argv = {"true"};
    EXPECT_EQ(exec::run_program(spec).exit_code, 0);
    spec.argv = {"/nonexistent/probe"};
    const auto missing = exec::run_program(spec);
    EXPECT_FALSE(missing.started);
    EXPECT_NE(missing.start_error.find("No such file"), std::string::npos) << missing.start_error;
}

TEST(RunProgram, OverrunIsKilledWithItsChildrenAndLeavesNoZombie) {
    test::TempFolder folder;
    const std::string pids = folder.path("pids");
    exec::RunSpec spec;
    spec.argv = {"/bin/sh", "-c",
                 "sleep 300 & echo $! > " + pids + "; echo $$ >> " + pids +
                     "; echo partial gauge=1; sleep 300"};
    spec.environment = {"PATH=/usr/bin:/bin"};
    spec.timeout = 500ms;
    const auto result = exec::run_program(spec);
    EXPECT_TRUE(result.timed_out);
    EXPECT_LT(result.took, 5s);  // bounded, not a timing figure: the program asked for 300 s
    std::istringstream in(test::read_text(pids));
    pid_t child = 0, shell = 0;
    in >> child >> shell;
    ASSERT_GT(child, 0);
    ASSERT_GT(shell, 0);
    // The shell was ours: reaped (waitpid finds no child left), not a zombie.
    EXPECT_EQ(::waitpid(shell, nullptr, WNOHANG), -1);
    EXPECT_EQ(errno, ECHILD);
    EXPECT_FALSE(alive(shell));
    // Its background child was killed with it.
    for (int i = 0; i < 100 && alive(child); ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_FALSE(alive(child));
}

TEST(RunProgram, BackgroundChildrenDoNotOutliveAProgramThatExited) {
    test::TempFolder folder;
    const std::string pids = folder.path("pids");
    exec::RunSpec spec;
    // It exits at once, leaving a child that holds its standard output open.
    spec.argv = {"/bin/sh", "-c", "sleep 300 & echo $! > " + pids + "; echo ok gauge=1"};
    spec.environment = {"PATH=/usr/bin:/bin"};
    const auto result = exec::run_program(spec);
    EXPECT_EQ(result.exit_code, 0);
    EXPECT_EQ(result.output, "ok gauge=1\n");
    pid_t child = 0;
    std::istringstream(test::read_text(pids)) >> child;
    ASSERT_GT(child, 0);
    for (int i = 0; i < 100 && alive(child); ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_FALSE(alive(child));
}

TEST(RunProgram, AShellCommandRunsThroughBinSh) {
    exec::RunSpec spec;
    spec.shell_command = "echo \"shell gauge=$((2 + 3))\" | tr a-z A-Z; exit 4";
    spec.environment = exec::minimal_environment();
    const auto result = exec::run_program(spec);
    EXPECT_EQ(result.output, "SHELL GAUGE=5\n");
    EXPECT_EQ(result.exit_code, 4);
}

TEST(RunProgram, EnvironmentEntriesReplaceTheirName) {
    std::vector<std::string> environment = exec::minimal_environment();
    ASSERT_EQ(environment.size(), 2u);
    exec::set_variable(environment, "PATH=/opt/probe/bin");
    exec::set_variable(environment, "path=/lower/case/is/another/name");
    EXPECT_EQ(environment, (std::vector<std::string>{"LANG=C.UTF-8", "PATH=/opt/probe/bin",
                                                     "path=/lower/case/is/another/name"}));
}

TEST(RunProgram, OutputPastTheLimitIsRefusedWhole) {
    exec::RunSpec spec;
    spec.argv = {"/bin/sh", "-c", "yes 'flood gauge=1' | head -c 100000"};
    spec.environment = {"PATH=/usr/bin:/bin"};
    spec.max_output_bytes = 1000;
    const auto result = exec::run_program(spec);
    EXPECT_TRUE(result.output_overflow);
    EXPECT_TRUE(result.output.empty());
}

}  // namespace
}  // namespace dmon::plugins
