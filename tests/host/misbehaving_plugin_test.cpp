// Plugins that get one thing wrong, run in process by the real binary (issue 16): what can be
// survived is survived, named and counted; what cannot (a crash, an abort) is named on the way
// down instead of a bare "Segmentation fault".
#include "test_support.hpp"

#include <dmon/plugin.h>

#include <gtest/gtest.h>

namespace dmon::test {
namespace {

const std::string kDmon = DMON_BINARY;

std::string config_for(TempFolder& folder, const std::string& plugin, const std::string& interval,
                       bool self_metrics = false) {
    // Its own control socket: ctest runs these in parallel, all as node "probe".
    return folder.file(plugin + ".yaml",
                       "node: probe\ncontrol: " + folder.path(plugin + ".sock") +
                           "\nself_metrics: " + std::string(self_metrics ? "true" : "false") +
                           "\ninterval: 200ms\nplugin_paths: [" DMON_TEST_PLUGIN_DIR
                           "]\ncollectors:\n  - plugin: " +
                           plugin + "\n    interval: " + interval +
                           "\nsinks:\n  - plugin: stdout\n    path: " + folder.path("out.lp") +
                           "\n    flush_interval: 100ms\n");
}

TEST(MisbehavingPlugin, OnceNamesNotFiniteValuesAndFails) {
    TempFolder folder;
    auto result = run_command(kDmon + " once --config " + config_for(folder, "test_nan", "1s"));
    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_NE(result.output.find("\ntest.alive,host=probe gauge=1 "), std::string::npos)
        << result.output;
    EXPECT_EQ(result.output.find("\ntest.ratio"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("[test_nan] 2 sample(s) refused: value not finite (NaN or "
                                 "infinity), e.g. test.ratio=nan"),
              std::string::npos)
        << result.output;
}

TEST(MisbehavingPlugin, AWrongSampleSizeIsNamedAsSuch) {
    TempFolder folder;
    auto result =
        run_command(kDmon + " once --config " + config_for(folder, "test_bad_size", "1s"));
    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_NE(result.output.find("[test_bad_size] 1 sample(s) refused: emit() was given "
                                 "sample_size 8, which no dmon_sample has (pass "
                                 "sizeof(dmon_sample), " +
                                 std::to_string(sizeof(dmon_sample)) + " in this host)"),
              std::string::npos)
        << result.output;
}

TEST(MisbehavingPlugin, AnExceptionThroughTheCAbiFailsTheCallNotTheHost) {
    TempFolder folder;
    auto result =
        run_command(kDmon + " once --config " + config_for(folder, "test_raw_throw", "1s"));
    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_NE(result.output.find("[test_raw_throw] collect failed: collect() threw a C++ "
                                 "exception through the C ABI (a plugin bug: catch it and return "
                                 "a status): the parser choked on line 3"),
              std::string::npos)
        << result.output;
}

// In `run`, a NaN every round is counted every round and said once.
TEST(MisbehavingPlugin, RunCountsRefusalsAndSaysThemOnce) {
    TempFolder folder;
    auto result = run_command("timeout --preserve-status -s TERM 2 " + kDmon + " run --config " +
                              config_for(folder, "test_nan", "100ms", true));
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_EQ(count_of(result.output, "sample(s) refused: value not finite"), 1u) << result.output;
    const std::string written = read_text(folder.path("out.lp"));
    // About 19 rounds; 6 leaves room for a slow (sanitizer) build's start.
    EXPECT_GE(count_of(written, "test.alive,host=probe "), 6u) << written;
    EXPECT_NE(
        written.find(
            "dmon.plugin.refused,host=probe,instance=test_nan,plugin=test_nan,reason=not_finite "),
        std::string::npos)
        << written;
}

// DMON_INVALID is final for the round's input: no back-off, so rounds keep their schedule
// (about 19 in 2 s at 100 ms; with back-off at most 6: 100, 200, 400, 800 ms apart).
TEST(MisbehavingPlugin, InvalidDropsTheRoundWithoutBackingOff) {
    TempFolder folder;
    auto result = run_command("timeout --preserve-status -s TERM 2 " + kDmon + " run --config " +
                              config_for(folder, "test_invalid", "100ms"));
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_EQ(count_of(result.output,
                       "collect refused its input (DMON_INVALID): input line 7 is "
                       "not a number; round dropped, the next one on schedule"),
              1u)
        << result.output;
    EXPECT_EQ(result.output.find("next try in"), std::string::npos) << result.output;
    const std::string written = read_text(folder.path("out.lp"));
    EXPECT_GE(count_of(written, "test.alive,host=probe "), 9u) << written;
}

// What cannot be survived in process is named: the signal, the call and the instance.
TEST(MisbehavingPlugin, ACrashIsNamedOnTheWayDown) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "the sanitizer's own handler reports the crash (covered by the plain build)";
#endif
    TempFolder folder;
    auto segv = run_command("timeout -s KILL 20 " + kDmon + " run --config " +
                            config_for(folder, "test_segfault", "100ms"));
    EXPECT_EQ(segv.exit_code, 128 + 11) << segv.output;
    EXPECT_NE(segv.output.find("dmon: SIGSEGV (invalid memory access) in collect() of collector "
                               "'test_segfault' (plugin test_segfault): the host stops with it"),
              std::string::npos)
        << segv.output;
    auto abort = run_command("timeout -s KILL 20 " + kDmon + " run --config " +
                             config_for(folder, "test_abort", "100ms"));
    EXPECT_EQ(abort.exit_code, 128 + 6) << abort.output;
    EXPECT_NE(abort.output.find("dmon: SIGABRT (abort) in collect() of collector 'test_abort' "
                                "(plugin test_abort)"),
              std::string::npos)
        << abort.output;
}

}  // namespace
}  // namespace dmon::test
