// `isolate: true` (issue 16), run by the real binary: plugins that crash, abort, hang or eat
// memory in a worker process are named, counted and restarted, while the host and a healthy
// collector beside them keep every round, exactly once; an isolated sink that crashes in the
// middle of a write loses nothing, because the batch is written again to its next worker.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace dmon::test {
namespace {

const std::string kDmon = DMON_BINARY;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;  // the sanitizer's handler reports a crash and exits its way
#else
constexpr bool kSanitized = false;
#endif

std::string host_config(TempFolder& folder, const std::string& name, const std::string& entries,
                        const std::string& sinks = "") {
    return folder.file(
        name + ".yaml",
        "node: probe\ncontrol: " + folder.path(name + ".sock") +
            "\ninterval: 200ms\nplugin_paths: [" DMON_TEST_PLUGIN_DIR "]\ncollectors:\n" + entries +
            "sinks:\n" +
            (sinks.empty() ? "  - plugin: stdout\n    path: " + folder.path("out.lp") +
                                 "\n    flush_interval: 100ms\n"
                           : sinks));
}

// The values of every line of `metric` (line protocol "metric,host=probe gauge=V ts").
std::vector<long> values_of(const std::string& text, const std::string& metric) {
    std::vector<long> values;
    const std::string prefix = metric + ",host=probe ";
    for (size_t at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1)) {
        if (at != 0 && text[at - 1] != '\n')
            continue;
        const size_t equals = text.find('=', at + prefix.size());
        values.push_back(std::stol(text.substr(equals + 1)));
    }
    return values;
}

// 1, 2, ..., n: no round lost, none twice.
void expect_every_round_once(const std::vector<long>& values, size_t at_least) {
    ASSERT_GE(values.size(), at_least);
    std::multiset<long> seen(values.begin(), values.end());
    for (long round = 1; round <= static_cast<long>(values.size()); ++round)
        EXPECT_EQ(seen.count(round), 1u) << "round " << round;
}

TEST(Isolation, CrashesAreSurvivedNamedCountedAndRestarted) {
    TempFolder folder;
    const std::string config =
        host_config(folder, "crash",
                    "  - plugin: test_segfault\n    interval: 100ms\n    isolate: true\n"
                    "  - plugin: test_abort\n    interval: 100ms\n    isolate: true\n"
                    "  - plugin: test_counter\n    interval: 100ms\n");
    auto result =
        run_command("timeout --preserve-status -s TERM 4 " + kDmon + " run --config " + config);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    for (const std::string name : {"test_segfault", "test_abort"}) {
        EXPECT_NE(result.output.find("[" + name + "] the isolated worker (pid "), std::string::npos)
            << result.output;
    }
    if (!kSanitized) {
        EXPECT_NE(result.output.find(") was killed by SIGSEGV (invalid memory access) in "
                                     "collect(); the host goes on, the worker starts again in "),
                  std::string::npos)
            << result.output;
        EXPECT_NE(result.output.find(") was killed by SIGABRT (abort) in collect()"),
                  std::string::npos)
            << result.output;
        // The worker's own report names the call on its way down, and says who lives on.
        EXPECT_NE(result.output.find("dmon: SIGSEGV (invalid memory access) in collect() of "
                                     "collector 'test_segfault' (plugin test_segfault): the "
                                     "worker stops with it; the host lives on and restarts it"),
                  std::string::npos)
            << result.output;
    }
    EXPECT_NE(result.output.find("[test_segfault] isolated worker started again (pid "),
              std::string::npos)
        << result.output;
    const std::string written = read_text(folder.path("out.lp"));
    // Each worker life keeps its first round: test.alive=1 arrives more than once.
    EXPECT_GE(count_of(written, "test.alive,host=probe gauge=1 "), 2u) << written;
    EXPECT_NE(written.find("dmon.plugin.crashes,host=probe,instance=test_segfault,plugin="
                           "test_segfault,reason=" +
                           std::string(kSanitized ? "" : "signal ")),
              std::string::npos)
        << written;
    // About 39 rounds in 4 s; 15 leaves room for a sanitizer build's slow start.
    expect_every_round_once(values_of(written, "test.rounds"), 15);
}

TEST(Isolation, AHangAndRunawayMemoryAreStoppedAtTheirLimits) {
    TempFolder folder;
    const std::string config = host_config(
        folder, "limits",
        "  - plugin: test_hang\n    interval: 100ms\n    isolate: true\n    deadline: 300ms\n"
        "  - plugin: test_hog\n    interval: 100ms\n    isolate: true\n    memory_limit: 256MiB\n"
        "  - plugin: test_counter\n    interval: 100ms\n");
    auto result =
        run_command("timeout --preserve-status -s TERM 4 " + kDmon + " run --config " + config);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find("[test_hang] the isolated worker (pid "), std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find(") did not return within its deadline of 300 ms in collect()"),
              std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("of resident memory, over its memory_limit of 256.0 MiB in "
                                 "collect()"),
              std::string::npos)
        << result.output;
    const std::string written = read_text(folder.path("out.lp"));
    for (const std::string reason : {"test_hang,plugin=test_hang,reason=deadline ",
                                     "test_hog,plugin=test_hog,reason=memory_limit "}) {
        EXPECT_NE(written.find("dmon.plugin.crashes,host=probe,instance=" + reason),
                  std::string::npos)
            << written;
    }
    expect_every_round_once(values_of(written, "test.rounds"), 15);
}

TEST(Isolation, ASinkWhoseWorkerCrashesMidWriteLosesNothing) {
    TempFolder folder;
    const std::string config = host_config(
        folder, "sink", "  - plugin: test_counter\n    interval: 50ms\n",
        "  - plugin: test_flaky_sink\n    isolate: true\n    flush_interval: 100ms\n"
        "    path: " +
            folder.path("sink.lp") +
            "\n    crash_on_write: 3\n    crash_marker: " + folder.path("crashed") + "\n");
    auto result =
        run_command("timeout --preserve-status -s TERM 3 " + kDmon + " run --config " + config);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_EQ(read_text(folder.path("crashed")), "crashed\n");
    EXPECT_NE(result.output.find("[test_flaky_sink] the isolated worker (pid "), std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find(" in write(); the host goes on"), std::string::npos)
        << result.output;
    const std::string written = read_text(folder.path("sink.lp"));
    // About 59 rounds; every one written once, those of the lost write too.
    expect_every_round_once(values_of(written, "test.rounds"), 20);
}

// A source fed from outside (amqp_consume's way): the worker's plugin hears, through the host,
// that each batch it emitted with a completion was written.
TEST(Isolation, CompletionsCrossToTheWorker) {
    TempFolder folder;
    const std::string config = host_config(
        folder, "fed", "  - plugin: test_fed\n    interval: 100ms\n    isolate: true\n");
    auto result =
        run_command("timeout --preserve-status -s TERM 3 " + kDmon + " run --config " + config);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    const std::string written = read_text(folder.path("out.lp"));
    const auto fed = values_of(written, "test.fed");
    expect_every_round_once(fed, 10);
    // The counter the completions raise, as the host last reported it.
    const std::string prefix =
        "dmon.plugin.completed,host=probe,instance=test_fed,plugin=test_fed counter=";
    const size_t last = written.rfind(prefix);
    ASSERT_NE(last, std::string::npos) << written;
    const long completed = std::stol(written.substr(last + prefix.size()));
    EXPECT_GE(completed, 5) << written;
    EXPECT_EQ(written.find("dmon.plugin.failed,"), std::string::npos) << written;
}

TEST(Isolation, OnceAndCheckWorkThroughTheWorker) {
    TempFolder folder;
    const std::string nan = host_config(folder, "nan", "  - plugin: test_nan\n    isolate: true\n");
    auto once = run_command(kDmon + " once --config " + nan);
    EXPECT_EQ(once.exit_code, 1) << once.output;
    EXPECT_NE(once.output.find("\ntest.alive,host=probe gauge=1 "), std::string::npos)
        << once.output;
    EXPECT_NE(once.output.find("[test_nan] 2 sample(s) refused: value not finite (NaN or "
                               "infinity), e.g. test.ratio=nan"),
              std::string::npos)
        << once.output;

    // The other in-process mistakes read the same through a worker.
    const std::map<std::string, std::string> said = {
        {"test_bad_size",
         "[test_bad_size] 1 sample(s) refused: emit() was given sample_size 8, which no "
         "dmon_sample has"},
        {"test_raw_throw",
         "[test_raw_throw] collect failed: collect() threw a C++ exception through the C ABI (a "
         "plugin bug: catch it and return a status): the parser choked on line 3"},
    };
    for (const auto& [plugin, line] : said) {
        const std::string isolated =
            host_config(folder, plugin, "  - plugin: " + plugin + "\n    isolate: true\n");
        auto result = run_command(kDmon + " once --config " + isolated);
        EXPECT_EQ(result.exit_code, 1) << result.output;
        EXPECT_NE(result.output.find(line), std::string::npos) << result.output;
    }

    const std::string rejects =
        host_config(folder, "rejects", "  - plugin: test_create_fails\n    isolate: true\n");
    auto check = run_command(kDmon + " check --config " + rejects);
    EXPECT_NE(check.exit_code, 0) << check.output;
    EXPECT_NE(check.output.find("collector 'test_create_fails': create failed: threshold must "
                                "be positive"),
              std::string::npos)
        << check.output;

    const std::string misplaced =
        host_config(folder, "misplaced", "  - plugin: test_counter\n    deadline: 5s\n");
    auto refused = run_command(kDmon + " check --config " + misplaced);
    EXPECT_NE(refused.exit_code, 0) << refused.output;
    EXPECT_NE(refused.output.find("deadline and memory_limit apply only with 'isolate: true'"),
              std::string::npos)
        << refused.output;
}

}  // namespace
}  // namespace dmon::test
