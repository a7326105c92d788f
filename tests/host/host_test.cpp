// The host with real plugin files: a throwing and a slow collector are isolated, a failing
// sink is retried, every round of a healthy collector arrives exactly once, and stop flushes.
#include "dmon/core/host.hpp"
#include "dmon/core/logging.hpp"
#include "test_support.hpp"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <thread>

namespace dmon::core {
namespace {
using namespace std::chrono_literals;

class HostTest : public ::testing::Test {
  protected:
    void SetUp() override { set_log_sink(std::make_shared<spdlog::sinks::ostream_sink_mt>(log_)); }
    void TearDown() override { set_log_sink(std::make_shared<spdlog::sinks::stderr_sink_mt>()); }
    std::ostringstream log_;
    test::TempFolder folder_;
};

// The values of every `test.rounds` line, in file order.
std::vector<int> rounds_in(const std::string& text) {
    std::vector<int> values;
    std::regex line("^test\\.rounds,host=n1 counter=([0-9]+) [0-9]+$");
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
        std::smatch m;
        if (std::regex_match(l, m, line))
            values.push_back(std::stoi(m[1]));
    }
    return values;
}

TEST_F(HostTest, FaultyPluginsAreIsolatedAndHealthyRoundsArriveExactlyOnce) {
    const std::string out = folder_.path("out.lp");
    const std::string config_text =
        "node: n1\ninterval: 500ms\nplugin_paths: [" DMON_TEST_PLUGIN_DIR
        "]\n"
        "collectors:\n"
        "  - plugin: test_counter\n    interval: 100ms\n"
        "  - plugin: test_throwing\n    name: boom\n    interval: 100ms\n"
        "  - plugin: test_slow\n    interval: 100ms\n    delay: 250ms\n"
        "sinks:\n"
        "  - plugin: test_flaky_sink\n    path: " +
        out +
        "\n    fail_first: 2\n"
        "    flush_interval: 100ms\n";
    const auto path = folder_.file("host.yaml", config_text);
    const HostConfig config = load_config(path);
    auto host =
        std::make_unique<Host>(config, std::make_shared<PluginCatalog>(plugin_folders(config)));
    host->start();
    std::this_thread::sleep_for(1600ms);
    const auto counter_stats = host->collectors()[0]->stats();
    const auto boom_stats = host->collectors()[1]->stats();
    const auto slow_stats = host->collectors()[2]->stats();
    const auto sink_stats = host->sinks()[0]->stats();
    host->stop();

    const std::string written = test::read_text(out);
    const std::vector<int> rounds = rounds_in(written);
    ASSERT_GE(rounds.size(), 8u) << written;  // ~16 ticks in 1.6 s
    for (size_t i = 0; i < rounds.size(); ++i)
        ASSERT_EQ(rounds[i], static_cast<int>(i) + 1) << "missing or doubled round";
    EXPECT_EQ(rounds.size(), counter_stats->rounds.load());

    const std::string log = log_.str();
    EXPECT_NE(log.find("[boom] collect failed (1 in a row): sensor on fire; next try in 100 ms"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("[boom] collect failed (2 in a row): sensor on fire; next try in 200 ms"),
              std::string::npos)
        << log;
    EXPECT_GE(boom_stats->errors, 2u);
    EXPECT_NE(log.find("[test_slow] collect took"), std::string::npos) << log;
    EXPECT_GT(slow_stats->skipped_rounds, 0u);
    EXPECT_NE(log.find("[test_flaky_sink] write failed: disk says no; keeping "), std::string::npos)
        << log;
    EXPECT_NE(log.find("[test_flaky_sink] writing again after "), std::string::npos) << log;
    EXPECT_EQ(sink_stats->errors, 2u);
    EXPECT_EQ(sink_stats->dropped, 0u);
    // Self-metrics travel the same pipeline: the sink stored the host's own counters.
    EXPECT_NE(
        written.find("dmon.collector.errors,host=n1,instance=boom,plugin=test_throwing counter="),
        std::string::npos);
    EXPECT_NE(written.find("dmon.sink.queued,host=n1,instance=test_flaky_sink"), std::string::npos);
}

TEST_F(HostTest, StartRefusesAConfigWithoutSinks) {
    const auto path = folder_.file("nosink.yaml", "collectors:\n  - plugin: proc_mem\n");
    Host host(load_config(path),
              std::make_shared<PluginCatalog>(std::vector<std::string>{DMON_PLUGIN_DIR}));
    try {
        host.start();
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.messages()[0], path +
                                       ": no sinks: samples would go nowhere; add one under "
                                       "'sinks:' (e.g. '- plugin: stdout')");
    }
}

TEST_F(HostTest, AFailingCreateLeavesNothingRunning) {
    const auto path =
        folder_.file("bad.yaml", "plugin_paths: [" DMON_TEST_PLUGIN_DIR
                                 "]\ncollectors:\n"
                                 "  - plugin: test_counter\n  - plugin: test_create_fails\n"
                                 "sinks:\n  - plugin: test_flaky_sink\n    path: " +
                                     folder_.path("x") + "\n");
    Host host(load_config(path),
              std::make_shared<PluginCatalog>(plugin_folders(load_config(path))));
    EXPECT_THROW(host.start(), PluginLoadError);
    EXPECT_TRUE(host.collectors().empty());
    EXPECT_TRUE(host.sinks().empty());
}

}  // namespace
}  // namespace dmon::core

namespace dmon::core {
namespace {

// amqp_publish's own buffer is gone: a config that still sets it is refused, with what replaced
// it. (The publisher connects lazily, so no broker is needed to get this far.)
TEST_F(HostTest, AmqpPublishRefusesTheRemovedBufferLimit) {
    const auto path =
        folder_.file("old.yaml",
                     "collectors:\n  - plugin: proc_mem\nsinks:\n  - plugin: amqp_publish\n"
                     "    url: amqp://guest:guest@127.0.0.1:9/\n    buffer_limit: 1000000\n");
    Host host(load_config(path),
              std::make_shared<PluginCatalog>(std::vector<std::string>{DMON_PLUGIN_DIR}));
    try {
        host.start();
        ADD_FAILURE() << "started with buffer_limit";
    } catch (const std::exception& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("buffer_limit was removed"), std::string::npos) << message;
        EXPECT_NE(message.find("queue_size"), std::string::npos) << message;
        EXPECT_NE(message.find("spool: FOLDER"), std::string::npos) << message;
    }
}

// Two hosts cannot share a spool folder: the second is refused at start, with a reason.
TEST_F(HostTest, ASpoolFolderServesOneProcessOnly) {
    const std::string spool = folder_.path("spool");
    const auto path = folder_.file("a.yaml",
                                   "collectors:\n  - plugin: proc_mem\nsinks:\n"
                                   "  - plugin: stdout\n    path: " +
                                       folder_.path("out.lp") + "\n    spool: " + spool + "\n");
    Host first(load_config(path),
               std::make_shared<PluginCatalog>(std::vector<std::string>{DMON_PLUGIN_DIR}));
    first.start();
    // A second process (the dmon binary) with the same folder.
    const auto second = test::run_command("timeout 20 " + std::string(DMON_BINARY) +
                                          " run --config " + path + " 2>&1");
    EXPECT_EQ(second.exit_code, 2) << second.output;  // a config to fix: another folder
    EXPECT_NE(second.output.find("in use by another dmon process"), std::string::npos)
        << second.output;
    first.stop();
}

}  // namespace
}  // namespace dmon::core
