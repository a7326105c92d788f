// Agents -> RabbitMQ -> controller -> SQLite, with a real broker started by scripts/broker.sh
// and the shipped config/agent.yaml and config/controller.yaml.
#include "../host/test_support.hpp"
#include "amqp_publish/publisher.hpp"
#include "process.hpp"
#include "sqlite_store/store.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

namespace dmon::test {
namespace {
using namespace std::chrono_literals;
using plugins::sqlite_store::Database;

const std::string kSource = DMON_SOURCE_DIR;
const std::string kDmon = DMON_BINARY;
constexpr int kPort = 5699;  // not the demo's 5672: tests and a running demo do not meet

std::string broker(const std::string& command) {
    return "DMON_BROKER_PORT=" + std::to_string(kPort) +
           " DMON_BROKER_DIR=" + std::string(DMON_BROKER_DIR) + " bash " + kSource +
           "/scripts/broker.sh " + command;
}

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

class AmqpTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        run_command("rm -rf " + std::string(DMON_BROKER_DIR));
        auto started = run_command(broker("start"));
        ASSERT_EQ(started.exit_code, 0) << started.output;
    }
    static void TearDownTestSuite() {
        run_command(broker("stop"));
        run_command("rm -rf " + std::string(DMON_BROKER_DIR));
    }

    std::string env(const std::string& queue_db) const {
        return "DMON_AMQP_URL=amqp://guest:guest@127.0.0.1:" + std::to_string(kPort) +
               "/ DMON_DB=" + queue_db + " ";
    }
    std::unique_ptr<Process> controller() {
        return std::make_unique<Process>(
            "env " + env(db_) + "DMON_CONTROL=" + folder_.path("controller.sock") + " " + kDmon +
            " run --config " + kSource + "/config/controller.yaml >>" +
            folder_.path("controller.log") + " 2>&1");
    }
    std::unique_ptr<Process> agent(const std::string& node) {
        return std::make_unique<Process>(
            "env " + env(db_) + "DMON_CONTROL=" + folder_.path(node + ".sock") + " DMON_SPOOL=" +
            folder_.path(node + ".spool") + " " + kDmon + " run --config " + kSource +
            "/config/agent.yaml --node " + node + " >>" + folder_.path(node + ".log") + " 2>&1");
    }

    int64_t query_int(const std::string& sql) {
        try {
            Database db(db_, false);
            auto stmt = db.prepare(sql);
            return stmt.step() ? stmt.column_int(0) : -1;
        } catch (const std::exception&) {
            return -1;  // not created yet
        }
    }
    // Timestamps of one series of a host, oldest first.
    std::vector<int64_t> timestamps(const std::string& host, const std::string& name) {
        std::vector<int64_t> out;
        Database db(db_, false);
        auto stmt = db.prepare(
            "SELECT x.ts FROM samples x JOIN series s ON s.id = x.series_id "
            "WHERE s.host = ?1 AND s.name = ?2 ORDER BY x.ts");
        stmt.bind(0, std::string_view(host)).bind(1, std::string_view(name));
        while (stmt.step())
            out.push_back(stmt.column_int(0));
        return out;
    }
    bool wait_for(const std::function<bool()>& condition, std::chrono::seconds timeout) {
        const auto until = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < until) {
            if (condition())
                return true;
            std::this_thread::sleep_for(200ms);
        }
        return condition();
    }
    // Waits until the controller's queue is empty (nothing waiting, nothing unacknowledged) and
    // the host's stored count has stopped growing. The controller may still be backing off
    // after a broker outage, so an unchanged count alone does not mean it is done.
    void wait_until_settled(const std::string& host) {
        int64_t last = -2;
        for (int i = 0; i < 90; ++i) {
            const auto queues =
                run_command(
                    broker("ctl -q list_queues name messages_ready messages_unacknowledged"))
                    .output;
            const bool drained = queues.find("dmon.controller\t0\t0") != std::string::npos;
            const int64_t now = query_int(
                "SELECT count(*) FROM samples x JOIN series s ON s.id = x.series_id WHERE s.host = "
                "'" +
                host + "'");
            if (drained && now == last)
                return;
            last = now;
            std::this_thread::sleep_for(1s);
        }
        ADD_FAILURE() << "the controller did not drain its queue within 90 s";
    }
    // Every round between the first and the last stored one is there: agents collect each second
    // on the second, so consecutive rounds are about 1 s apart and never 2 s.
    void expect_every_round(const std::string& host, int64_t stopped_at_ns) {
        const auto rounds = timestamps(host, "system.memory.limit");
        ASSERT_GE(rounds.size(), 5u) << host;
        for (size_t i = 1; i < rounds.size(); ++i) {
            const int64_t gap = rounds[i] - rounds[i - 1];
            EXPECT_GT(gap, 500'000'000) << host << ": round " << i << " twice?";
            EXPECT_LT(gap, 1'500'000'000) << host << ": a round is missing before " << rounds[i];
        }
        // The last round before the agent stopped arrived too (the stop flushed it).
        EXPECT_GT(rounds.back(), stopped_at_ns - 2'000'000'000) << host;
    }

    TempFolder folder_;
    std::string db_ = folder_.path("metrics.db");
};

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

TEST_F(AmqpTest, MalformedMessagesGoToTheDeadLetterQueueAndForeignOnesAreStored) {
    auto c = controller();
    ASSERT_TRUE(wait_for(
        [&] {
            return read_text(folder_.path("controller.log")).find("consuming dmon.controller") !=
                   std::string::npos;
        },
        20s));
    plugins::amqp::ConnectionSettings settings;
    settings.url = "amqp://guest:guest@127.0.0.1:" + std::to_string(kPort) + "/";
    plugins::amqp::Publisher publisher(settings, "dmon.metrics");
    const std::string ts = std::to_string(now_ns());
    std::deque<plugins::amqp::OutgoingMessage> messages;
    auto message = [&](const std::string& id, const std::string& body) {
        messages.push_back({id, "metrics.tester.manual", body, 1, now_ns()});
    };
    message("good-1", "it.valid,host=tester gauge=1 " + ts + "\n");
    static constexpr char kRandom[] = "\x8f\x01\xfe garbage \x00\x02";
    message("bad-random",
            std::string(kRandom, sizeof(kRandom) - 1));  // the NUL inside is part of it
    message("bad-truncated", "system.cpu.time,host=tester,cpu=tot");
    message("bad-number", "it.valid,host=tester gauge=12x " + ts + "\n");
    message("good-2",
            "cpu,host=telegraf-host,cpu=cpu-total usage_user=1.5,usage_system=0.5 " + ts + "\n");
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
    EXPECT_NE(log.find("message bad-truncated from metrics.tester.manual sent to the dead-letter "
                       "queue: line 1: no fields"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("message bad-number from metrics.tester.manual sent to the dead-letter "
                       "queue: line 1: field 'gauge': "
                       "'12x' is not a number"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("message bad-random from"), std::string::npos) << log;
}

}  // namespace
}  // namespace dmon::test
