// Agents -> RabbitMQ -> controller -> SQLite, with a real broker started by scripts/broker.sh
// and the shipped config/agent.yaml and config/controller.yaml.
#include "../host/test_support.hpp"
#include "amqp_common/publisher.hpp"
#include "broker_fixture.hpp"
#include "process.hpp"
#include <dmon/store/store.hpp>

#include <gtest/gtest.h>

#include <fstream>

#include <chrono>
#include <map>
#include <set>
#include <thread>

namespace dmon::test {
namespace {
using namespace std::chrono_literals;
using store::Database;

class AmqpTest : public BrokerFixture {};

TEST_F(AmqpTest, TwoAgentsAndAControllerStoreAllFourAreas) {
    auto c = controller();
    auto a = agent("it-a");
    auto b = agent("it-b");
    const std::vector<std::string> names = {"system.cpu.utilization", "system.memory.usage",
                                            "system.disk.io", "system.network.io"};
    auto all_there = [&] {
        for (const char* host : {"it-a", "it-b"}) {
            for (const auto& name : names) {
                if (query_int("SELECT count(*) FROM series WHERE host = '" + std::string(host) +
                              "' AND name = '" + name + "'") <= 0)
                    return false;
            }
        }
        return true;
    };
    EXPECT_TRUE(wait_for(all_there, 20s)) << read_text(folder_.path("controller.log"));
    a->stop();
    b->stop();
    EXPECT_EQ(c->stop(), 0);
}

TEST_F(AmqpTest, ABrokerOutageLosesNoRoundAndDoublesNone) {
    auto c = controller();
    auto a = agent("it-outage");
    ASSERT_TRUE(wait_for(
        [&] { return query_int("SELECT count(*) FROM series WHERE host = 'it-outage'") > 0; },
        20s));
    std::this_thread::sleep_for(2s);
    ASSERT_EQ(run_command(broker("stop")).exit_code, 0);
    std::this_thread::sleep_for(10s);
    auto restarted = run_command(broker("start"));
    ASSERT_EQ(restarted.exit_code, 0) << restarted.output;
    std::this_thread::sleep_for(5s);
    const int64_t stopped_at = now_ns();
    EXPECT_EQ(a->stop(), 0);
    wait_until_settled("it-outage");
    EXPECT_EQ(c->stop(), 0);
    expect_every_round("it-outage", stopped_at);
    EXPECT_NE(read_text(folder_.path("it-outage.log")).find("writing again after"),
              std::string::npos)
        << read_text(folder_.path("it-outage.log"));
}

TEST_F(AmqpTest, AControllerKilledMidStreamLosesNothing) {
    auto c = controller();
    auto a = agent("it-kill");
    ASSERT_TRUE(wait_for(
        [&] { return query_int("SELECT count(*) FROM series WHERE host = 'it-kill'") > 0; }, 20s));
    std::this_thread::sleep_for(2s);
    c->signal(SIGKILL);
    c->wait();
    std::this_thread::sleep_for(3s);
    c = controller();
    std::this_thread::sleep_for(3s);
    const int64_t stopped_at = now_ns();
    EXPECT_EQ(a->stop(), 0);
    wait_until_settled("it-kill");
    EXPECT_EQ(c->stop(), 0);
    expect_every_round("it-kill", stopped_at);
}

// The shipped controller made to seal its head after every batch, so that each SIGKILL lands
// in a seal or next to one: every round is stored once, and the chunks never overlap.
TEST_F(AmqpTest, AControllerKilledWhileSealingLosesNothingAndDoublesNothing) {
    std::string config = read_text(kSource + "/config/controller.yaml");
    const auto at = config.find("    retention: 7d\n");
    ASSERT_NE(at, std::string::npos);
    config.insert(at, "    seal_samples: 1\n    seal_interval: 1ms\n    chunk_samples: 16\n");
    const std::string path = folder_.path("sealing.yaml");
    std::ofstream(path) << config;
    auto c = controller(path);
    auto a = agent("it-seal");
    ASSERT_TRUE(wait_for(
        [&] { return query_int("SELECT count(*) FROM series WHERE host = 'it-seal'") > 0; }, 20s));
    for (int kill = 0; kill < 3; ++kill) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1500 + 700 * kill));
        c->signal(SIGKILL);
        c->wait();
        c = controller(path);
    }
    std::this_thread::sleep_for(3s);
    const int64_t stopped_at = now_ns();
    EXPECT_EQ(a->stop(), 0);
    wait_until_settled("it-seal");
    EXPECT_EQ(c->stop(), 0);
    expect_every_round("it-seal", stopped_at);
    if (HasFailure()) {
        const std::string log = read_text(folder_.path("controller.log"));
        ADD_FAILURE() << "controller log (end):\n"
                      << log.substr(log.size() > 6000 ? log.size() - 6000 : 0);
    }
    // Sealed while the agent sent, not only at the end.
    EXPECT_GT(
        query_int("SELECT count(*) FROM chunks") + query_int("SELECT count(*) FROM open_chunks"),
        0);
    const std::string all_chunks =
        "(SELECT rowid AS id, series_id, start_ts, end_ts FROM chunks UNION ALL SELECT -series_id, "
        "series_id, start_ts, end_ts FROM open_chunks)";
    EXPECT_EQ(query_int("SELECT count(*) FROM " + all_chunks + " a JOIN " + all_chunks +
                        " b ON a.series_id = b.series_id AND a.id <> b.id AND a.start_ts <= "
                        "b.end_ts AND b.start_ts <= a.end_ts"),
              0);
}

TEST_F(AmqpTest, MalformedMessagesGoToTheDeadLetterQueueAndForeignOnesAreStored) {
    auto c = controller();
    wait_until_consuming();
    plugins::amqp::ConnectionSettings settings;
    settings.urls = {"amqp://guest:guest@127.0.0.1:" + std::to_string(kPort) + "/"};
    plugins::amqp::Publisher publisher(settings, "dmon.metrics");
    const std::string ts = std::to_string(now_ns());
    std::deque<plugins::amqp::OutgoingMessage> messages;
    auto message = [&](const std::string& id, const std::string& body,
                       const std::string& key = "metrics.tester.manual") {
        messages.push_back({id, key, body, 1, now_ns(), {}});
    };
    message("good-1", "it.valid,host=tester gauge=1 " + ts + "\n");
    static constexpr char kRandom[] = "\x8f\x01\xfe garbage \x00\x02";
    message("bad-random",
            std::string(kRandom, sizeof(kRandom) - 1));  // the NUL inside is part of it
    message("bad-truncated", "system.cpu.time,host=tester,cpu=tot");
    message("bad-number", "it.valid,host=tester gauge=12x " + ts + "\n");
    message("good-2",
            "cpu,host=telegraf-host,cpu=cpu-total usage_user=1.5,usage_system=0.5 " + ts + "\n",
            "metrics.telegraf-host.cpu");  // a foreign producer names its node in the key too
    publisher.send(messages);
    ASSERT_TRUE(messages.empty());
    ASSERT_TRUE(wait_for(
        [&] { return query_int("SELECT count(*) FROM series WHERE host = 'telegraf-host'") == 2; },
        15s));
    EXPECT_EQ(query_int("SELECT count(*) FROM series WHERE host = 'tester' AND name = 'it.valid'"),
              1);
    EXPECT_EQ(query_int("SELECT count(*) FROM series WHERE host = 'telegraf-host' AND name = "
                        "'cpu.usage_user' AND "
                        "labels = 'cpu=cpu-total'"),
              1);
    EXPECT_EQ(query_int("SELECT count(*) FROM series WHERE host = 'telegraf-host' AND name = "
                        "'cpu.usage_system'"),
              1);
    auto dead = run_command(broker("ctl -q list_queues name messages"));
    EXPECT_NE(dead.output.find("dmon.controller.dead\t3"), std::string::npos) << dead.output;
    EXPECT_EQ(c->stop(), 0);
    const std::string log = read_text(folder_.path("controller.log"));
    // One line per reason per second: the first malformed message is named, the others held.
    EXPECT_NE(log.find("refused message bad-random from metrics.tester.manual (user guest): "
                       "malformed: line 1: "
                       "field without '=value'; text: "
                       "\"\x8f\\x01\xfe garbage \\x00\\x02\""),
              std::string::npos)
        << log;
}

}  // namespace
}  // namespace dmon::test
