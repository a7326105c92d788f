// Past one machine, against the real parts: Debian's PostgreSQL 15 (scripts/postgres.sh, on
// 127.0.0.1:kPgPort) and a three-node RabbitMQ cluster (scripts/broker.sh cluster, on
// kBrokerPort..+2), both with state in the build folder. Agents count their rounds
// (test_counter: 1, 2, 3, ...), so "every round stored exactly once" is a question to
// PostgreSQL: for each agent, rows == distinct values == the highest value.
#include "../host/test_support.hpp"
#include "../integration/process.hpp"

#include <dmon/store/postgres.hpp>

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <functional>
#include <map>
#include <thread>

namespace dmon::test {
namespace {
using namespace std::chrono_literals;
namespace pg = store::pg;

const std::string kSource = DMON_SOURCE_DIR;
const std::string kDmon = DMON_BINARY;
const std::string kDmonctl = DMONCTL_BINARY;
const std::string kPlugins = DMON_PLUGIN_DIR;
const std::string kTestPlugins = DMON_TEST_PLUGIN_DIR;
const std::string kState = DMON_SCALING_STATE_DIR;
constexpr int kPgPort = DMON_TEST_PG_PORT;
constexpr int kBrokerPort = DMON_TEST_BROKER_PORT;  // the cluster's nodes: this .. this + 2

std::string postgres(const std::string& command) {
    return "DMON_PG_PORT=" + std::to_string(kPgPort) + " DMON_PG_DIR=" + kState +
           "/postgres bash " + kSource + "/scripts/postgres.sh " + command;
}
std::string cluster(const std::string& command) {
    return "DMON_BROKER_PORT=" + std::to_string(kBrokerPort) +
           " DMON_BROKER_CLUSTER_DIR=" + kState + "/cluster bash " + kSource +
           "/scripts/broker.sh cluster " + command;
}
std::string node(int i, const std::string& command) {
    return "DMON_BROKER_PORT=" + std::to_string(kBrokerPort + i) + " DMON_BROKER_DIR=" + kState +
           "/cluster/node" + std::to_string(i) + " bash " + kSource + "/scripts/broker.sh " +
           command;
}
std::string broker_url(int i) {
    return "amqp://guest@127.0.0.1:" + std::to_string(kBrokerPort + i) + "/";
}
const std::string kUrls = "[" + broker_url(0) + ", " + broker_url(1) + ", " + broker_url(2) + "]";
const std::string kOwnerPassword = "owner-secret-1";
const std::string kReaderPassword = "reader-secret-2";

std::string conninfo(const std::string& user, int port = kPgPort) {
    return "postgresql://" + user + "@127.0.0.1:" + std::to_string(port) + "/dmon";
}

size_t occurrences(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++n;
    return n;
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

class Scaling : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        run_command(postgres("stop") + "; " + cluster("stop 3"));
        run_command("rm -rf " + kState);
        auto pg_started = run_command(postgres("start"));
        ASSERT_EQ(pg_started.exit_code, 0) << pg_started.output;
        // The store's owner, and a user that may only read (what dmonctl should use).
        auto roles = run_command(
            postgres("psql -c \"CREATE ROLE dmon_owner LOGIN PASSWORD '" + kOwnerPassword +
                     "'\" -c \"CREATE ROLE dmon_reader LOGIN PASSWORD '" + kReaderPassword +
                     "'\" -c 'CREATE DATABASE dmon OWNER dmon_owner'"));
        ASSERT_EQ(roles.exit_code, 0) << roles.output;
        auto started = run_command(cluster("start 3"));
        ASSERT_EQ(started.exit_code, 0) << started.output;
        ASSERT_NE(started.output.find("3 of 3 nodes running"), std::string::npos) << started.output;
    }
    static void TearDownTestSuite() {
        run_command(cluster("stop 3"));
        run_command(postgres("stop"));
        run_command("rm -rf " + kState);
    }

    std::string secret(const std::string& name, const std::string& text) {
        const std::string path = folder_.file(name, text + "\n");
        ::chmod(path.c_str(), 0600);
        return path;
    }
    std::string amqp_password() { return secret("amqp.password", "guest"); }

    std::unique_ptr<Process> start(const std::string& name, const std::string& body) {
        const std::string config = folder_.file(
            name + ".yaml", "node: " + name +
                                "\ninterval: 1s\ncontrol: " + folder_.path(name + ".sock") +
                                "\nself_metrics: false\nplugin_paths: [" + kPlugins + ", " +
                                kTestPlugins + "]\n" + body);
        return std::make_unique<Process>(kDmon + " run --config " + config + " >>" +
                                         folder_.path(name + ".log") + " 2>&1");
    }
    std::string log(const std::string& name) { return read_text(folder_.path(name + ".log")); }

    // An agent counting its rounds every 200 ms into the exchange, through the cluster.
    std::unique_ptr<Process> agent(const std::string& name, const std::string& exchange) {
        return start(name,
                     "collectors:\n  - plugin: test_counter\n    interval: 200ms\n"
                     "sinks:\n  - plugin: amqp_publish\n    urls: " +
                         kUrls + "\n    password_file: " + amqp_password() + "\n    exchange: " +
                         exchange + "\n    timeout: 2s\n    flush_interval: 100ms\n    spool: " +
                         folder_.path(name + ".spool") + "\n");
    }
    // A controller consuming the exchange's quorum queue into PostgreSQL (schema `schema`).
    std::unique_ptr<Process> controller(const std::string& name, const std::string& exchange,
                                        const std::string& schema,
                                        const std::string& user = "dmon_owner",
                                        const std::string& password = kOwnerPassword,
                                        int port = kPgPort) {
        return start(name,
                     "collectors:\n  - plugin: amqp_consume\n    interval: 100ms\n"
                     "    urls: " +
                         kUrls + "\n    password_file: " + amqp_password() +
                         "\n    exchange: " + exchange + "\n    queue: " + exchange +
                         "\n    queue_type: quorum\n    timeout: 2s\n"
                         "sinks:\n  - plugin: postgres_store\n    conninfo: " +
                         conninfo(user, port) + "\n    password_file: " +
                         secret(name + ".pgpass", password) + "\n    schema: " + schema +
                         "\n    batch_size: 2000\n    flush_interval: 100ms\n");
    }
    void wait_until_consuming(const std::string& name, const std::string& queue) {
        ASSERT_TRUE(wait_for(
            [&] { return log(name).find("consuming " + queue) != std::string::npos; }, 30s))
            << log(name);
    }

    std::unique_ptr<pg::Connection> owner() {
        pg::ConnectionSettings settings;
        settings.conninfo = conninfo("dmon_owner");
        settings.password_file = secret("owner.pgpass", kOwnerPassword);
        return std::make_unique<pg::Connection>(settings);
    }
    struct Rounds {
        int64_t rows = 0, distinct = 0, highest = 0;
    };
    // test.rounds per host, as stored.
    std::map<std::string, Rounds> rounds(const std::string& schema) {
        std::map<std::string, Rounds> out;
        try {
            auto c = owner();
            auto result = c->query(
                "SELECT s.host, count(*), count(DISTINCT p.value), max(p.value) "
                "FROM " +
                    schema + ".samples p JOIN " + schema +
                    ".series s ON s.id = p.series_id WHERE s.name = "
                    "'test.rounds' GROUP BY s.host",
                {}, "counting rounds");
            for (int i = 0; i < result.rows(); ++i)
                out[std::string(result.text(i, 0))] = {result.integer(i, 1), result.integer(i, 2),
                                                       static_cast<int64_t>(result.real(i, 3))};
        } catch (const pg::PgError&) {
            // not created yet, or the server is restarting
        }
        return out;
    }
    // Messages in a queue (ready and unacknowledged), from the cluster's first running node.
    int64_t queued(const std::string& queue) {
        for (int i = 0; i < 3; ++i) {
            auto listed = run_command(node(i, "ctl -q list_queues name messages"));
            if (listed.exit_code != 0)
                continue;
            std::istringstream lines(listed.output);
            std::string line;
            while (std::getline(lines, line)) {
                if (line.rfind(queue + "\t", 0) == 0)
                    return std::stoll(line.substr(queue.size() + 1));
            }
            return 0;
        }
        return -1;
    }
    // Agents stopped (their last rounds flushed): waits until the queue is empty and the stored
    // rounds stop changing, then checks that every agent's rounds 1..N are there once each.
    void expect_every_round_once(const std::string& schema, const std::string& queue,
                                 const std::vector<std::string>& agents, int64_t at_least) {
        std::map<std::string, Rounds> last;
        bool settled = false;
        for (int i = 0; i < 90 && !settled; ++i) {
            std::this_thread::sleep_for(1s);
            auto now = rounds(schema);
            settled = queued(queue) == 0 && !now.empty() && now.size() == agents.size() &&
                      std::all_of(now.begin(), now.end(), [&](const auto& entry) {
                          const auto& before = last[entry.first];
                          return before.rows == entry.second.rows;
                      });
            last = now;
        }
        EXPECT_TRUE(settled) << "the queue did not drain or the store kept changing";
        for (const auto& agent : agents) {
            const Rounds r = last[agent];
            EXPECT_GE(r.highest, at_least) << agent;
            EXPECT_EQ(r.distinct, r.highest) << agent << ": rounds are missing";
            EXPECT_EQ(r.rows, r.highest) << agent << ": rounds are stored twice";
        }
    }

    TempFolder folder_;
};

// One agent writes into SQLite and PostgreSQL at once; dmonctl answers the same from both.
TEST_F(Scaling, DmonctlReadsPostgresAsItReadsSqlite) {
    const std::string db = folder_.path("same.db");
    auto both =
        start("same",
              "collectors:\n  - plugin: test_counter\n    interval: 200ms\n"
              "  - plugin: proc_mem\n    interval: 500ms\n"
              "sinks:\n  - plugin: sqlite_store\n    path: " +
                  db + "\n  - plugin: postgres_store\n    conninfo: " + conninfo("dmon_owner") +
                  "\n    password_file: " + secret("same.pgpass", kOwnerPassword) +
                  "\n    schema: same\n");
    std::this_thread::sleep_for(4s);
    ASSERT_EQ(both->stop(), 0) << log("same");
    // dmonctl reads as a user that may only read.
    auto granted = run_command(postgres(
        "psql -d dmon -c 'GRANT USAGE ON SCHEMA same TO dmon_reader' -c 'GRANT SELECT ON ALL "
        "TABLES IN SCHEMA same TO dmon_reader'"));
    ASSERT_EQ(granted.exit_code, 0) << granted.output;
    for (const std::string command :
         {"hosts", "metrics", "latest", "latest --metric system.memory.usage",
          "query --metric test.rounds --since 1h", "query --metric test.rounds --since 1h --rate",
          "query --metric system.memory.usage --since 1h --step 1s",
          "query --metric test.rounds "
          "--since 1h --format json"}) {
        const auto from_sqlite = run_command(kDmonctl + " " + command + " --format csv --db " + db);
        ASSERT_EQ(from_sqlite.exit_code, 0) << from_sqlite.output;
        const auto from_pg =
            run_command("PGPASSWORD=" + kReaderPassword + " DMON_PG_SCHEMA=same " + kDmonctl + " " +
                        command + " --format csv --db '" + conninfo("dmon_reader") + "'");
        EXPECT_EQ(from_pg.exit_code, 0) << from_pg.output;
        EXPECT_EQ(from_pg.output, from_sqlite.output) << command;
        EXPECT_GT(occurrences(from_sqlite.output, "\n"), 1u) << command << ": no rows to compare";
    }
}

// A wrong password, an unreachable server, a read-only user: one clear error each, and nothing
// acknowledged: what the agent sent all arrives, once, when a working controller comes.
TEST_F(Scaling, PostgresFaultsAreNamedAndNothingIsAcknowledged) {
    // Wrong password: refused at load, with libpq's reason and without the password.
    {
        auto wrong = controller("wrong", "dmon.faults", "faults", "dmon_owner", "not-the-password");
        ASSERT_TRUE(wait_for([&] { return !wrong->running(); }, 20s)) << log("wrong");
        EXPECT_NE(wrong->wait(), 0);
        EXPECT_NE(log("wrong").find("login refused"), std::string::npos) << log("wrong");
        EXPECT_NE(log("wrong").find("password authentication failed"), std::string::npos)
            << log("wrong");
        EXPECT_EQ(log("wrong").find("not-the-password"), std::string::npos);
    }
    // The store exists (made by its owner), then the agent sends while nothing can store.
    {
        auto maker = controller("maker", "dmon.faults", "faults");
        wait_until_consuming("maker", "dmon.faults");
        ASSERT_EQ(maker->stop(), 0) << log("maker");
    }
    auto a = agent("fault-a", "dmon.faults");
    // Unreachable: nothing listens on the port; the controller runs, says so once, acks nothing.
    {
        auto away =
            controller("away", "dmon.faults", "faults", "dmon_owner", kOwnerPassword, kPgPort + 7);
        wait_until_consuming("away", "dmon.faults");
        std::this_thread::sleep_for(4s);
        EXPECT_TRUE(away->running()) << log("away");
        const std::string text = log("away");  // before the stop, which says it again
        EXPECT_EQ(away->stop(), 0);
        EXPECT_EQ(occurrences(text, "cannot connect"), 2u)
            << "the load-time note and one error line: " << text;
        EXPECT_EQ(occurrences(text, " error ["), 1u) << text;
    }
    // A user that may read but not write: refused at load, naming the grant it lacks.
    {
        auto granted = run_command(postgres(
            "psql -d dmon -c 'GRANT USAGE ON SCHEMA faults TO dmon_reader' -c 'GRANT SELECT ON "
            "ALL TABLES IN SCHEMA faults TO dmon_reader'"));
        ASSERT_EQ(granted.exit_code, 0) << granted.output;
        auto reader =
            controller("readonly", "dmon.faults", "faults", "dmon_reader", kReaderPassword);
        ASSERT_TRUE(wait_for([&] { return !reader->running(); }, 20s)) << log("readonly");
        EXPECT_NE(reader->wait(), 0);
        const std::string text = log("readonly");
        EXPECT_EQ(occurrences(text, "permission denied"), 1u) << text;
        EXPECT_NE(text.find("the user needs CREATE on the schema"), std::string::npos) << text;
    }
    EXPECT_TRUE(rounds("faults").empty()) << "nothing was stored yet";
    EXPECT_GT(queued("dmon.faults"), 10) << "every message is still in the queue";
    // A working controller: everything the agent sent, once.
    auto good = controller("good", "dmon.faults", "faults");
    std::this_thread::sleep_for(3s);
    ASSERT_EQ(a->stop(), 0) << log("fault-a");
    expect_every_round_once("faults", "dmon.faults", {"fault-a"}, 40);
}

// Two controllers share one quorum queue on a three-node cluster; one is SIGKILLed mid-stream.
TEST_F(Scaling, TwoControllersOneKilledStoreEveryRoundOnce) {
    auto c1 = controller("ctl-1", "dmon.compete", "compete");
    auto c2 = controller("ctl-2", "dmon.compete", "compete");
    wait_until_consuming("ctl-1", "dmon.compete");
    wait_until_consuming("ctl-2", "dmon.compete");
    auto a = agent("compete-a", "dmon.compete");
    auto b = agent("compete-b", "dmon.compete");
    ASSERT_TRUE(wait_for([&] { return rounds("compete")["compete-b"].rows >= 10; }, 30s))
        << log("ctl-1") << log("compete-b");
    c1->signal(SIGKILL);
    c1->wait();
    std::this_thread::sleep_for(5s);
    ASSERT_EQ(a->stop(), 0) << log("compete-a");
    ASSERT_EQ(b->stop(), 0) << log("compete-b");
    expect_every_round_once("compete", "dmon.compete", {"compete-a", "compete-b"}, 30);
    EXPECT_TRUE(c2->running()) << log("ctl-2");
}

// The broker node everyone is connected to (the first of their lists) is SIGKILLed: agents and
// controllers fail over to the others; the quorum queue keeps its messages.
TEST_F(Scaling, ABrokerNodeKilledLosesAndDoublesNothing) {
    auto c1 = controller("fail-1", "dmon.failover", "failover");
    auto c2 = controller("fail-2", "dmon.failover", "failover");
    wait_until_consuming("fail-1", "dmon.failover");
    wait_until_consuming("fail-2", "dmon.failover");
    auto a = agent("failover-a", "dmon.failover");
    auto b = agent("failover-b", "dmon.failover");
    ASSERT_TRUE(wait_for([&] { return rounds("failover")["failover-b"].rows >= 10; }, 30s))
        << log("fail-1");
    auto killed = run_command(node(0, "kill"));
    ASSERT_EQ(killed.exit_code, 0) << killed.output;
    // Rounds keep being stored through the other nodes.
    const int64_t before = rounds("failover")["failover-a"].rows;
    EXPECT_TRUE(wait_for([&] { return rounds("failover")["failover-a"].rows >= before + 10; }, 40s))
        << log("failover-a") << log("fail-1");
    ASSERT_EQ(a->stop(), 0) << log("failover-a");
    ASSERT_EQ(b->stop(), 0) << log("failover-b");
    expect_every_round_once("failover", "dmon.failover", {"failover-a", "failover-b"}, 20);
    // The controllers consumed again from another node.
    const std::string controllers = log("fail-1") + log("fail-2");
    EXPECT_GE(occurrences(controllers, "consuming dmon.failover"), 4u) << controllers;
    EXPECT_TRUE(controllers.find(broker_url(1)) != std::string::npos ||
                controllers.find(broker_url(2)) != std::string::npos)
        << controllers;
    // The node comes back and rejoins the cluster for the tests after this one.
    auto restarted = run_command(node(0, "start"));
    EXPECT_EQ(restarted.exit_code, 0) << restarted.output;
}

// PostgreSQL killed and started again mid-stream: batches wait unacknowledged and are stored
// once it is back.
TEST_F(Scaling, PostgresRestartedMidStreamLosesAndDoublesNothing) {
    auto c1 = controller("restart-1", "dmon.restart", "restart");
    wait_until_consuming("restart-1", "dmon.restart");
    auto a = agent("restart-a", "dmon.restart");
    ASSERT_TRUE(wait_for([&] { return rounds("restart")["restart-a"].rows >= 10; }, 30s))
        << log("restart-1");
    auto killed = run_command(postgres("kill"));
    ASSERT_EQ(killed.exit_code, 0) << killed.output;
    std::this_thread::sleep_for(5s);
    auto started = run_command(postgres("start"));
    ASSERT_EQ(started.exit_code, 0) << started.output;
    std::this_thread::sleep_for(3s);
    ASSERT_EQ(a->stop(), 0) << log("restart-a");
    expect_every_round_once("restart", "dmon.restart", {"restart-a"}, 40);
    EXPECT_NE(log("restart-1").find("connected to PostgreSQL"), std::string::npos)
        << log("restart-1");
}

}  // namespace
}  // namespace dmon::test
