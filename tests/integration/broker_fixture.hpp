#pragma once
// A real RabbitMQ (scripts/broker.sh) for the test suite, the shipped configs started as real
// processes, and questions to the controller's SQLite file.
#include "../host/test_support.hpp"
#include "process.hpp"
#include <dmon/store/store.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

namespace dmon::test {
using namespace std::chrono_literals;
using store::Database;

const std::string kSource = DMON_SOURCE_DIR;
const std::string kDmon = DMON_BINARY;
// Each test program has its own broker (port and state folder): they may run side by side,
// and never meet a running demo on 5672.
constexpr int kPort = DMON_TEST_BROKER_PORT;

inline std::string broker(const std::string& command) {
    return "DMON_BROKER_PORT=" + std::to_string(kPort) +
           " DMON_BROKER_DIR=" + std::string(DMON_BROKER_DIR) + " bash " + kSource +
           "/scripts/broker.sh " + command;
}

inline int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

class BrokerFixture : public ::testing::Test {
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
        // As in production: the password in a file of mode 0600, not in the URL.
        const std::string password = folder_.file("amqp.password", "guest\n");
        ::chmod(password.c_str(), 0600);
        return "DMON_AMQP_PASSWORD_FILE=" + password +
               " DMON_AMQP_URL=amqp://guest@127.0.0.1:" + std::to_string(kPort) +
               "/ DMON_DB=" + queue_db + " ";
    }
    std::unique_ptr<Process> controller(const std::string& config = "") {
        return std::make_unique<Process>(
            "env " + env(db_) + "DMON_CONTROL=" + folder_.path("controller.sock") + " " + kDmon +
            " run --config " + (config.empty() ? kSource + "/config/controller.yaml" : config) +
            " >>" + folder_.path("controller.log") + " 2>&1");
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
    // Every stored point (sealed or still in the head) of a host (or all hosts) and a metric
    // (or all, ""), through the store's reader.
    std::vector<store::Row> points(const std::optional<std::string>& host,
                                   const std::string& name = "") {
        try {
            store::SampleReader reader(db_);
            return reader.query(name, host, {}, false);
        } catch (const std::exception&) {
            return {};  // not created yet
        }
    }
    // The largest value of a metric's series whose labels end with `labels_suffix`, or -1.
    double max_value(const std::string& name, const std::string& labels_suffix) {
        double out = -1;
        for (const auto& row : points(std::nullopt, name)) {
            if (row.labels.size() >= labels_suffix.size() &&
                row.labels.compare(row.labels.size() - labels_suffix.size(), labels_suffix.size(),
                                   labels_suffix) == 0)
                out = std::max(out, row.value);
        }
        return out;
    }
    // Timestamps of one series of a host, oldest first.
    std::vector<int64_t> timestamps(const std::string& host, const std::string& name) {
        std::vector<int64_t> out;
        for (const auto& row : points(host, name))
            out.push_back(row.timestamp_ns);
        return out;
    }
    // The controller has declared its queue and consumes from it.
    void wait_until_consuming() {
        ASSERT_TRUE(wait_for(
            [&] {
                return read_text(folder_.path("controller.log"))
                           .find("consuming dmon.controller") != std::string::npos;
            },
            20s))
            << read_text(folder_.path("controller.log"));
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
            const auto now = static_cast<int64_t>(points(host).size());
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

}  // namespace dmon::test
