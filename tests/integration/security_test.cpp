// The controller against a hostile or careless publisher, through a real RabbitMQ: the
// amplifying message, a spoofing sender, one broker user per agent restricted by topic
// permissions, 100,000 series from one sender, duplicate tags, far-future timestamps, NaN.
// Every refused message must be in the dead-letter queue with its reason, and its neighbours
// stored.
#include "amqp_common/publisher.hpp"
#include "broker_fixture.hpp"

#include <amqp_framing.h>

#include <fstream>
#include <map>

namespace dmon::test {
namespace {
using plugins::amqp::ConnectionSettings;
using plugins::amqp::OutgoingMessage;
using plugins::amqp::Publisher;

ConnectionSettings as_user(const std::string& user, const std::string& password) {
    ConnectionSettings settings;
    settings.urls = {"amqp://" + user + ":" + password + "@127.0.0.1:" + std::to_string(kPort) +
                     "/"};
    settings.timeout = std::chrono::milliseconds(3000);
    return settings;
}

// Kilobytes of a process's memory from /proc (VmRSS now, VmHWM the peak).
int64_t memory_kb(pid_t pid, const std::string& field) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind(field + ":", 0) == 0)
            return std::stoll(line.substr(field.size() + 1));
    }
    return -1;
}

// Every message in the dead-letter queue: message_id -> x-dmon-reject-reason (emptied).
std::map<std::string, std::string> dead_letters() {
    std::map<std::string, std::string> out;
    plugins::amqp::Connection connection(as_user("guest", "guest"), 0);
    auto* state = connection.state();
    for (;;) {
        const amqp_rpc_reply_t reply =
            amqp_basic_get(state, 1, amqp_cstring_bytes("dmon.controller.dead"), /*no_ack*/ 1);
        if (reply.reply_type != AMQP_RESPONSE_NORMAL || reply.reply.id != AMQP_BASIC_GET_OK_METHOD)
            break;
        amqp_message_t message;
        if (amqp_read_message(state, 1, &message, 0).reply_type != AMQP_RESPONSE_NORMAL)
            break;
        std::string id = plugins::amqp::text(message.properties.message_id);
        std::string reason = "(no reason header)";
        const amqp_table_t& headers = message.properties.headers;
        for (int i = 0;
             (message.properties._flags & AMQP_BASIC_HEADERS_FLAG) && i < headers.num_entries;
             ++i) {
            if (plugins::amqp::text(headers.entries[i].key) == "x-dmon-reject-reason")
                reason = plugins::amqp::text(headers.entries[i].value.value.bytes);
        }
        out[id] = reason;
        amqp_destroy_message(&message);
    }
    return out;
}

class SecurityTest : public BrokerFixture {
  protected:
    void publish(const std::string& id, const std::string& key, const std::string& body) {
        Publisher publisher(as_user("guest", "guest"), "dmon.metrics");
        publisher.publish(OutgoingMessage{id, key, body, 1, now_ns(), {}});
    }
    int64_t series_of(const std::string& host) {
        return query_int("SELECT count(*) FROM series WHERE host = '" + host + "'");
    }
    std::string ts() const { return std::to_string(now_ns()); }
};

// Issue 9's message: 2,500 tags x 2,500 fields in 35 KiB took the controller past 1 GB.
TEST_F(SecurityTest, TheAmplifyingMessageIsRefusedAndTheControllerStaysSmall) {
    auto c = controller();
    wait_until_consuming();
    publish("warm-up", "metrics.neighbour.x", "warm.up gauge=1 " + ts() + "\n");
    ASSERT_TRUE(wait_for([&] { return series_of("neighbour") == 1; }, 15s));
    const int64_t idle_kb = memory_kb(c->pid(), "VmRSS");
    std::string line = "amplify,host=attacker";
    for (int t = 0; t < 2500; ++t)
        line += ",t" + std::to_string(t) + "=v";
    line += " ";
    for (int f = 0; f < 2500; ++f)
        line += (f ? ",f" : "f") + std::to_string(f) + "=1";
    ASSERT_LT(line.size(), 40'000u);
    publish("amplify", "metrics.attacker.x", line + "\n");
    // Within the label limit, many fields under long tags: refused by the expansion bound.
    std::string wide = "wide";
    for (int t = 0; t < 30; ++t)
        wide += ",tag" + std::to_string(t) + "=" + std::string(1000, 'v');
    wide += " ";
    for (int f = 0; f < 64; ++f)
        wide += (f ? ",f" : "f") + std::to_string(f) + "=1";
    std::string wide_message;
    while (wide_message.size() < 900'000)
        wide_message += wide + "\n";
    publish("wide", "metrics.attacker.x", wide_message);
    publish("too-large", "metrics.attacker.x", std::string(2 << 20, 'x'));
    publish("after", "metrics.neighbour.x", "after.attack gauge=2 " + ts() + "\n");
    ASSERT_TRUE(wait_for([&] { return series_of("neighbour") == 2; }, 20s));
    const int64_t peak_kb = memory_kb(c->pid(), "VmHWM");
    std::cout << "[security] controller RSS idle " << idle_kb / 1024 << " MB, peak after the "
              << "attack " << peak_kb / 1024 << " MB\n";
    EXPECT_LT(peak_kb - idle_kb, 50 * 1024) << "idle " << idle_kb << " kB, peak " << peak_kb;
    EXPECT_EQ(series_of("attacker"), 0);
    EXPECT_EQ(c->stop(), 0);
    const auto dead = dead_letters();
    EXPECT_EQ(dead.at("amplify"), "too_many_labels");
    EXPECT_EQ(dead.at("wide"), "amplification");
    EXPECT_EQ(dead.at("too-large"), "message_too_large");
    const std::string log = read_text(folder_.path("controller.log"));
    EXPECT_NE(log.find("refused message amplify from metrics.attacker.x (user guest): "
                       "too_many_labels: line 1: "
                       "more than 32 tags; text: \"amplify,host=attacker,t0=v"),
              std::string::npos)
        << log;
}

// One message per attack; each is refused whole with its reason, the good ones around them
// are stored, and a refused reason is logged once a second at most.
TEST_F(SecurityTest, BadSamplesAreRefusedWithTheirReasons) {
    auto c = controller();
    wait_until_consuming();
    const std::string far_future = std::to_string(now_ns() + 3600'000'000'000LL);
    publish("forged-log", "metrics.tester.x", "m gauge=1 1\n2026-11-26 [error] forged line\n");
    publish("dup", "metrics.tester.x", "m,host=tester,cpu=1,cpu=2 gauge=1 " + ts() + "\n");
    publish("future", "metrics.tester.x", "m,host=tester gauge=1 " + far_future + "\n");
    publish("nan", "metrics.tester.x", "m,host=tester gauge=NaN " + ts() + "\n");
    publish("old", "metrics.tester.x", "m,host=tester gauge=1 1000000000\n");
    for (int i = 0; i < 20; ++i)
        publish("nan-" + std::to_string(i), "metrics.tester.x", "m gauge=inf\n");
    publish("good", "metrics.tester.x", "m,host=tester gauge=7 " + ts() + "\n");
    ASSERT_TRUE(wait_for([&] { return series_of("tester") == 1; }, 15s));
    EXPECT_EQ(points("tester").size(), 1u);
    // Counted per reason in the controller's own metrics (stored every 10 s).
    EXPECT_TRUE(wait_for(
        [&] { return max_value("dmon.consume.rejected", "reason=not_finite") == 21; }, 25s));
    EXPECT_EQ(c->stop(), 0);
    const auto dead = dead_letters();
    EXPECT_EQ(dead.at("dup"), "duplicate_label");
    EXPECT_EQ(dead.at("future"), "timestamp_in_future");
    EXPECT_EQ(dead.at("nan"), "not_finite");
    EXPECT_EQ(dead.at("old"), "timestamp_too_old");
    EXPECT_EQ(dead.at("forged-log"), "timestamp_too_old");
    EXPECT_EQ(dead.size(), 25u);
    const std::string log = read_text(folder_.path("controller.log"));
    EXPECT_EQ(log.find("\n2026-11-26 [error] forged line"), std::string::npos) << log;
    EXPECT_NE(log.find("text: \"m gauge=1 1\\x0a2026-11-26 [error] forged line\\x0a\""),
              std::string::npos)
        << log;
    // 21 not_finite messages in well under a second: one line, the rest held back.
    size_t lines = 0;
    for (size_t at = log.find(": not_finite: "); at != std::string::npos;
         at = log.find(": not_finite: ", at + 1))
        ++lines;
    EXPECT_LE(lines, 3u) << log;
}

// A publisher under its own routing key claims another host: nothing is stored for the victim,
// and its message ids cannot shadow the victim's genuine messages.
TEST_F(SecurityTest, ASenderCannotSpeakForAnotherHost) {
    auto c = controller();
    wait_until_consuming();
    publish("victim:1", "metrics.intruder.x", "m,host=victim gauge=666 " + ts() + "\n");
    // Same message_id as the victim's next genuine message, published first by the intruder.
    publish("victim:2", "metrics.intruder.x", "m gauge=1 " + ts() + "\n");
    publish("victim:2", "metrics.victim.x", "m gauge=42 " + ts() + "\n");
    ASSERT_TRUE(wait_for([&] { return series_of("victim") == 1; }, 15s));
    ASSERT_TRUE(wait_for([&] { return series_of("intruder") == 1; }, 15s));
    const auto victim = points("victim");
    ASSERT_EQ(victim.size(), 1u);  // 666 from the intruder was not stored as the victim's
    EXPECT_EQ(victim[0].value, 42);
    EXPECT_EQ(c->stop(), 0);
    EXPECT_EQ(dead_letters().at("victim:1"), "host_mismatch");
}

// docs/operations.md: one broker user per agent, with topic permissions that restrict it to
// metrics.<node>.#. The broker refuses a publish under another node's key; the controller,
// configured with senders, refuses a user writing a host it may not.
TEST_F(SecurityTest, OneBrokerUserPerAgentCannotPublishAsAnother) {
    for (const std::string user : {"agent-a", "agent-b"}) {
        run_command(broker("ctl -q delete_user " + user));
        ASSERT_EQ(run_command(broker("ctl -q add_user " + user + " pw-" + user)).exit_code, 0);
        ASSERT_EQ(run_command(broker("ctl -q set_permissions -p / " + user +
                                     " '^dmon\\.metrics$' '^dmon\\.metrics$' '^$'"))
                      .exit_code,
                  0);
        ASSERT_EQ(run_command(broker("ctl -q set_topic_permissions -p / " + user +
                                     " dmon.metrics '^metrics\\." + user + "\\.' '^$'"))
                      .exit_code,
                  0);
    }
    const std::string config = folder_.file("controller.yaml", R"(
node: controller
interval: 1s
control: )" + folder_.path("controller.sock") + R"(
collectors:
  - plugin: amqp_consume
    interval: 100ms
    url: amqp://guest:guest@127.0.0.1:)" + std::to_string(kPort) + R"(/
    queue: dmon.controller
    senders: ["agent-a=agent-a", "agent-b=agent-b"]
sinks:
  - plugin: sqlite_store
    path: )" + db_ + R"(
    flush_interval: 100ms
)");
    Process c(kDmon + " run --config " + config + " >>" + folder_.path("controller.log") + " 2>&1");
    wait_until_consuming();

    // The real agent, logged in as agent-a: its rounds are stored.
    const std::string a_password = folder_.file("agent-a.password", "pw-agent-a\n");
    ::chmod(a_password.c_str(), 0600);
    Process agent(
        "env DMON_AMQP_URL=amqp://agent-a@127.0.0.1:" + std::to_string(kPort) +
        "/ DMON_AMQP_PASSWORD_FILE=" + a_password + " DMON_CONTROL=" + folder_.path("a.sock") +
        " DMON_SPOOL=" + folder_.path("a.spool") + " " + kDmon + " run --config " + kSource +
        "/config/agent.yaml --node agent-a >>" + folder_.path("agent-a.log") + " 2>&1");
    ASSERT_TRUE(wait_for([&] { return series_of("agent-a") > 10; }, 30s))
        << read_text(folder_.path("agent-a.log"));
    EXPECT_EQ(agent.stop(), 0);

    // agent-a publishing under agent-b's key: the broker refuses it (topic permission).
    Publisher as_a(as_user("agent-a", "pw-agent-a"), "dmon.metrics");
    try {
        as_a.publish(
            OutgoingMessage{"a-as-b", "metrics.agent-b.x", "m gauge=1\n", 1, now_ns(), {}});
        ADD_FAILURE() << "the broker took a publish under another agent's routing key";
    } catch (const plugins::amqp::AmqpError& e) {
        EXPECT_NE(std::string(e.what()).find("ACCESS_REFUSED"), std::string::npos) << e.what();
    }
    // Under its own key but naming agent-b in the body: refused by the controller.
    Publisher again(as_user("agent-a", "pw-agent-a"), "dmon.metrics");
    again.publish(OutgoingMessage{
        "a-body-b", "metrics.agent-a.x", "m,host=agent-b gauge=1 " + ts() + "\n", 1, now_ns(), {}});
    // guest is no configured sender.
    publish("guest-msg", "metrics.agent-b.x", "m gauge=1 " + ts() + "\n");
    const auto logged = [&](const std::string& text) {
        return read_text(folder_.path("controller.log")).find(text) != std::string::npos;
    };
    EXPECT_TRUE(wait_for(
        [&] {
            return logged("host_mismatch: host 'agent-b' in a message routed as node 'agent-a'") &&
                   logged("sender_unknown: user 'guest' is not among the senders");
        },
        15s))
        << read_text(folder_.path("controller.log"));
    EXPECT_EQ(series_of("agent-b"), 0);
    EXPECT_EQ(c.stop(), 0);
    const auto dead = dead_letters();
    EXPECT_EQ(dead.at("a-body-b"), "host_mismatch");
    EXPECT_EQ(dead.at("guest-msg"), "sender_unknown");
}

// Queues declared by an older dmon have no length limit, and RabbitMQ refuses to re-declare
// them with one: the controller uses them as they are and says which policy adds the limit.
TEST_F(SecurityTest, AQueueFromAnOlderDmonIsUsedAsItIs) {
    {
        plugins::amqp::Connection old(as_user("guest", "guest"), 0);
        auto* state = old.state();
        amqp_exchange_declare(state, 1, amqp_cstring_bytes("dmon.metrics.dead"),
                              amqp_cstring_bytes("fanout"), 0, 1, 0, 0, amqp_empty_table);
        old.check("declaring the dead-letter exchange");
        amqp_queue_declare(state, 1, amqp_cstring_bytes("legacy.q.dead"), 0, 1, 0, 0,
                           amqp_empty_table);
        old.check("declaring legacy.q.dead");
        plugins::amqp::QueueArguments arguments;  // what dmon 0.1 declared
        arguments.add("x-dead-letter-exchange", std::string("dmon.metrics.dead"));
        amqp_queue_declare(state, 1, amqp_cstring_bytes("legacy.q"), 0, 1, 0, 0, arguments.table());
        old.check("declaring legacy.q");
    }
    const std::string config = folder_.file("legacy.yaml", R"(
node: controller
control: )" + folder_.path("legacy.sock") + R"(
collectors:
  - plugin: amqp_consume
    interval: 100ms
    url: amqp://guest:guest@127.0.0.1:)" + std::to_string(kPort) +
                                                               R"(/
    queue: legacy.q
sinks:
  - plugin: sqlite_store
    path: )" + db_ + R"(
    flush_interval: 100ms
)");
    Process c(kDmon + " run --config " + config + " >>" + folder_.path("legacy.log") + " 2>&1");
    ASSERT_TRUE(wait_for(
        [&] {
            return read_text(folder_.path("legacy.log")).find("consuming legacy.q") !=
                   std::string::npos;
        },
        20s))
        << read_text(folder_.path("legacy.log"));
    publish("legacy-1", "metrics.legacy.x", "m gauge=1 " + ts() + "\n");
    EXPECT_TRUE(wait_for([&] { return series_of("legacy") == 1; }, 15s));
    EXPECT_EQ(c.stop(), 0);
    const std::string log = read_text(folder_.path("legacy.log"));
    // What the broker said (which argument differs), then the policy that adds the limit.
    EXPECT_NE(log.find("queue legacy.q exists with other arguments (PRECONDITION_FAILED - "
                       "inequivalent arg 'x-max-length-bytes' for queue 'legacy.q'"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("used as it is, perhaps without its length limit; a queue's type cannot "
                       "change (delete it once drained to change it); add the limit as a policy: "
                       "rabbitmqctl set_policy dmon-legacy.q '^legacy\\.q$' "
                       "'{\"max-length-bytes\":1073741824,\"overflow\":\"reject-publish\"}' "
                       "--apply-to queues"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("queue legacy.q.dead exists with other arguments"), std::string::npos);
    run_command(broker("ctl -q delete_queue legacy.q"));
    run_command(broker("ctl -q delete_queue legacy.q.dead"));
}

// 100,000 series from one sender: past max_series_per_host (10,000) new ones are refused and
// counted; the sender's existing series and other hosts keep flowing.
TEST_F(SecurityTest, OneSendersHundredThousandSeriesStopAtTheLimit) {
    auto c = controller();
    wait_until_consuming();
    const std::string now = ts();
    for (int m = 0; m < 50; ++m) {
        std::string body;
        for (int i = 0; i < 2000; ++i)
            body += "flood,id=" + std::to_string(m * 2000 + i) + " gauge=1 " + now + "\n";
        publish("flood-" + std::to_string(m), "metrics.flood.x", body);
    }
    publish("flood-existing", "metrics.flood.x", "flood,id=7 gauge=2 " + ts() + "\n");
    publish("other", "metrics.other.x", "m gauge=1 " + ts() + "\n");
    ASSERT_TRUE(wait_for([&] { return series_of("other") == 1; }, 60s));
    wait_until_settled("flood");
    EXPECT_EQ(series_of("flood"), 10'000);
    // Every refused sample is counted (the controller's own metrics, stored every 10 s).
    EXPECT_TRUE(wait_for(
        [&] {
            return max_value("dmon.store.refused_samples", "reason=max_series_per_host") == 90'000;
        },
        25s));
    size_t id7 = 0;
    for (const auto& row : points("flood"))
        id7 += row.labels == "id=7" ? 1 : 0;
    EXPECT_EQ(id7, 2u);
    EXPECT_EQ(c->stop(), 0);
    const std::string log = read_text(folder_.path("controller.log"));
    EXPECT_NE(log.find("max_series_per_host reached; the last from host 'flood'"),
              std::string::npos)
        << log;
}

}  // namespace
}  // namespace dmon::test

namespace dmon::test {
namespace {

// TLS against the real broker: its certificates are made here with openssl, for the name
// "localhost" only, signed by a CA of this test's own.
const std::string kCerts = std::string(DMON_BROKER_DIR) + "-certs";
constexpr int kTlsPort = kPort - 10;

class TlsTest : public BrokerFixture {
  protected:
    static void SetUpTestSuite() {
        const auto made = run_command(
            "set -e; rm -rf " + kCerts + "; mkdir -p " + kCerts + "; cd " + kCerts +
            "; for ca in ca other; do openssl req -x509 -newkey rsa:2048 -nodes -keyout $ca.key "
            "-out $ca.pem -days 2 -subj \"/CN=dmon test $ca\" 2>/dev/null; done; "
            "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "
            "/CN=localhost 2>/dev/null; printf 'subjectAltName=DNS:localhost\\n' > ext; "
            "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out "
            "server.pem -days 2 -extfile ext 2>/dev/null; chmod 644 server.key");
        ASSERT_EQ(made.exit_code, 0) << made.output;
        ::setenv("DMON_BROKER_TLS_PORT", std::to_string(kTlsPort).c_str(), 1);
        ::setenv("DMON_BROKER_TLS_CERTS", kCerts.c_str(), 1);
        BrokerFixture::SetUpTestSuite();
    }
    static void TearDownTestSuite() {
        BrokerFixture::TearDownTestSuite();
        ::unsetenv("DMON_BROKER_TLS_PORT");
        ::unsetenv("DMON_BROKER_TLS_CERTS");
        run_command("rm -rf " + kCerts);
    }
    static ConnectionSettings tls(const std::string& host, const std::string& ca) {
        ConnectionSettings settings;
        settings.urls = {"amqps://guest:guest@" + host + ":" + std::to_string(kTlsPort) + "/"};
        settings.tls_ca = ca;
        settings.timeout = std::chrono::milliseconds(5000);
        return settings;
    }
    // What connecting says: "ok" or the error.
    static std::string connect(const ConnectionSettings& settings) {
        try {
            plugins::amqp::Connection connection(settings, 0);
            return "ok";
        } catch (const plugins::amqp::AmqpError& e) {
            return e.what();
        }
    }
};

TEST_F(TlsTest, TheRightCaConnectsAWrongCaOrNameIsRefused) {
    EXPECT_EQ(connect(tls("localhost", kCerts + "/ca.pem")), "ok");
    const std::string where = "amqps://guest@localhost:" + std::to_string(kTlsPort) + "/";
    EXPECT_EQ(connect(tls("localhost", kCerts + "/other.pem")),
              where + ": TLS: the broker's certificate is not signed by tls_ca " + kCerts +
                  "/other.pem; refusing to connect");
    // The certificate names localhost, not 127.0.0.1.
    EXPECT_EQ(connect(tls("127.0.0.1", kCerts + "/ca.pem")),
              "amqps://guest@127.0.0.1:" + std::to_string(kTlsPort) +
                  "/: TLS: the broker's certificate is not for the host name '127.0.0.1'; "
                  "refusing to connect (use the name it was issued for)");
    // Without tls_ca the system's store is used: our CA is not in it...
    EXPECT_EQ(connect(tls("localhost", "")),
              where +
                  ": TLS: the broker's certificate is not signed by a CA this system "
                  "trusts; refusing to connect");
}

// The whole chain over TLS: a real agent and controller, with no tls_ca in their configs. The
// CA reaches them the way a system store does (SSL_CERT_FILE is where OpenSSL's default store
// is read from), which shows the store is loaded.
TEST_F(TlsTest, AgentsAndTheControllerTalkOverTlsWithTheSystemStore) {
    const std::string password = folder_.file("amqp.password", "guest\n");
    ::chmod(password.c_str(), 0600);
    const std::string env = "env SSL_CERT_FILE=" + kCerts +
                            "/ca.pem DMON_AMQP_PASSWORD_FILE=" + password +
                            " DMON_AMQP_URL=amqps://guest@localhost:" + std::to_string(kTlsPort) +
                            "/ DMON_DB=" + db_ + " ";
    Process c(env + "DMON_CONTROL=" + folder_.path("c.sock") + " " + kDmon + " run --config " +
              kSource + "/config/controller.yaml >>" + folder_.path("controller.log") + " 2>&1");
    wait_until_consuming();
    Process a(env + "DMON_CONTROL=" + folder_.path("a.sock") +
              " DMON_SPOOL=" + folder_.path("a.spool") + " " + kDmon + " run --config " + kSource +
              "/config/agent.yaml --node tls-agent >>" + folder_.path("agent.log") + " 2>&1");
    EXPECT_TRUE(wait_for(
        [&] { return query_int("SELECT count(*) FROM series WHERE host = 'tls-agent'") > 10; },
        30s))
        << read_text(folder_.path("agent.log")) << read_text(folder_.path("controller.log"));
    EXPECT_EQ(a.stop(), 0);
    EXPECT_EQ(c.stop(), 0);
    EXPECT_NE(read_text(folder_.path("controller.log")).find("from amqps://guest@localhost"),
              std::string::npos);
}

}  // namespace
}  // namespace dmon::test
