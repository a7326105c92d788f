// Fleet control against a real RabbitMQ: five agents in two groups, a controller storing what
// they send, and `dmonctl fleet` as an admin (and as a user who is not one). The replayed and
// the stale command are sent by hand (a recorded command published twice), as an attacker who
// can read the exchange would.
#include "broker_fixture.hpp"

#include <amqp_common/connection.hpp>
#include <protocol.hpp>

#include <sys/stat.h>

#include <map>
#include <set>
#include <sstream>

namespace dmon::test {
namespace {

namespace amqp = dmon::plugins::amqp;

const std::string kDmonctl = DMONCTL_BINARY;
const std::vector<std::string> kWeb = {"web-1", "web-2", "web-3"};
const std::vector<std::string> kDb = {"db-1", "db-2"};

// One CSV row of `dmonctl fleet --format csv`: node -> result, generation, detail.
struct Row {
    std::string result;
    int generation = -1;
    std::string detail;
    std::string instances;  // status only
};

// Splits CSV as dmonctl writes it (quotes only around fields that need them).
std::vector<std::string> csv_fields(const std::string& line) {
    std::vector<std::string> fields(1);
    bool quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
                fields.back() += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                fields.back() += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            fields.emplace_back();
        } else {
            fields.back() += c;
        }
    }
    return fields;
}

class FleetTest : public BrokerFixture {
  protected:
    void SetUp() override {
        for (const auto& [user, tags] : {std::pair{"fleetadmin", ""}, std::pair{"intruder", ""}}) {
            run_command(broker(std::string("ctl -q delete_user ") + user));
            ASSERT_EQ(run_command(broker(std::string("ctl -q add_user ") + user + " pw-" + user))
                          .exit_code,
                      0);
            ASSERT_EQ(run_command(broker(std::string("ctl -q set_permissions -p / ") + user +
                                         " '.*' '.*' '.*'"))
                          .exit_code,
                      0);
            (void)tags;
        }
        guest_password_ = folder_.file("guest.password", "guest\n");
        ::chmod(guest_password_.c_str(), 0600);
        admin_password_ = folder_.file("admin.password", "pw-fleetadmin\n");
        ::chmod(admin_password_.c_str(), 0600);
        intruder_password_ = folder_.file("intruder.password", "pw-intruder\n");
        ::chmod(intruder_password_.c_str(), 0600);
        controller_ = controller();
        wait_until_consuming();
        for (const auto& node : kWeb)
            start_agent(node, "web");
        for (const auto& node : kDb)
            start_agent(node, "db");
        for (const auto& [node, process] : agents_) {
            ASSERT_TRUE(wait_for(
                [&] {
                    return read_text(folder_.path(node + ".log")).find("[fleet] listening") !=
                           std::string::npos;
                },
                30s))
                << node << ": " << read_text(folder_.path(node + ".log"));
        }
    }

    std::string url(const std::string& user) const {
        return "amqp://" + user + "@127.0.0.1:" + std::to_string(kPort) + "/";
    }

    // Everything an agent's config has, apart from its collectors.
    std::string agent_sinks() const {
        return "sinks:\n"
               "  - plugin: amqp_publish\n"
               "    url: " +
               url("guest") + "\n    password_file: " + guest_password_ +
               "\n    flush_interval: 200ms\n";
    }

    void start_agent(const std::string& node, const std::string& group) {
        const std::string config = folder_.file(
            node + ".yaml",
            "node: " + node + "\ninterval: 1s\ncontrol: " + folder_.path(node + ".sock") +
                "\ncollectors:\n"
                "  - plugin: proc_mem\n"
                // Never on its own (aligned to a 365-day tick): only `fleet collect` runs it.
                "  - plugin: proc_system\n    name: rare\n    interval: 365d\n" +
                agent_sinks() + "fleet:\n  url: " + url("guest") +
                "\n  password_file: " + guest_password_ + "\n  groups: [" + group +
                ", all-agents]\n  admins: [fleetadmin]\n  accept_config: true\n");
        agents_[node] = std::make_unique<Process>(kDmon + " run --config " + config + " >>" +
                                                  folder_.path(node + ".log") + " 2>&1");
    }

    // `dmonctl fleet ARGS` as `user`; the rows by node, and the exit code.
    std::map<std::string, Row> fleet(const std::string& args, int& exit_code,
                                     const std::string& user = "fleetadmin",
                                     const std::string& timeout = "8s") {
        const std::string password = user == "fleetadmin" ? admin_password_ : intruder_password_;
        const auto result =
            run_command(kDmonctl + " fleet " + args + " --url " + url(user) + " --password-file " +
                        password + " --roster " + folder_.path("roster.json") + " --timeout " +
                        timeout + " --format csv 2>&1");
        exit_code = result.exit_code;
        std::map<std::string, Row> rows;
        std::istringstream lines(result.output);
        std::string line;
        std::getline(lines, line);  // the header
        EXPECT_EQ(line.rfind("node,groups,result,generation,detail", 0), 0u) << result.output;
        while (std::getline(lines, line)) {
            const auto fields = csv_fields(line);
            if (fields.size() < 5)
                continue;
            rows[fields[0]] = {fields[2], fields[3].empty() ? -1 : std::stoi(fields[3]), fields[4],
                               fields.size() > 5 ? fields[5] : std::string()};
        }
        last_output_ = result.output;
        return rows;
    }

    // Publishes a recorded command as the admin and counts the answers to it within `wait`.
    size_t publish_and_count_answers(const std::string& body, std::chrono::milliseconds wait) {
        amqp::ConnectionSettings settings;
        settings.urls = {url("fleetadmin")};
        settings.password_file = admin_password_;
        size_t cursor = 0;
        auto connection = amqp::connect_any(settings, cursor);
        auto* state = connection->state();
        auto* declared =
            amqp_queue_declare(state, 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
        connection->check("reply queue");
        const std::string queue = amqp::text(declared->queue);
        amqp_basic_consume(state, 1, amqp::bytes(queue), amqp_empty_bytes, 0, 1, 1,
                           amqp_empty_table);
        connection->check("consume");
        amqp_basic_properties_t properties{};
        properties._flags = AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_USER_ID_FLAG;
        properties.reply_to = amqp::bytes(queue);
        properties.user_id = amqp_cstring_bytes("fleetadmin");
        EXPECT_EQ(amqp_basic_publish(state, 1, amqp::bytes(std::string("dmon.control")),
                                     amqp::bytes(std::string("control.all")), 0, 0, &properties,
                                     amqp::bytes(body)),
                  AMQP_STATUS_OK);
        size_t answers = 0;
        const auto until = std::chrono::steady_clock::now() + wait;
        while (std::chrono::steady_clock::now() < until) {
            amqp_envelope_t envelope;
            timeval tick{0, 100'000};
            const auto reply = amqp_consume_message(state, &envelope, &tick, 0);
            if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
                ++answers;
                amqp_destroy_envelope(&envelope);
            }
        }
        return answers;
    }

    // The largest dmon.fleet.commands{result=RESULT} a host reported in its self-metrics.
    double fleet_count(const std::string& host, const std::string& result) {
        double out = 0;
        for (const auto& row : points(host, "dmon.fleet.commands"))
            if (row.labels.find("result=" + result) != std::string::npos)
                out = std::max(out, row.value);
        return out;
    }

    std::map<std::string, std::unique_ptr<Process>> agents_;
    std::unique_ptr<Process> controller_;
    std::string guest_password_, admin_password_, intruder_password_;
    std::string last_output_;
};

TEST_F(FleetTest, StatusReloadApplyCollectAndTheRefusals) {
    int code = -1;
    // 1. status --all: every agent, generation 1. The roster is empty, so dmonctl waits the
    //    whole timeout; it remembers the five for the "no answer" rows below.
    auto rows = fleet("status --all", code, "fleetadmin", "5s");
    EXPECT_EQ(code, 0) << last_output_;
    ASSERT_EQ(rows.size(), 5u) << last_output_;
    for (const auto& [node, row] : rows) {
        EXPECT_EQ(row.result, "ok") << node;
        EXPECT_EQ(row.generation, 1) << node;
        EXPECT_EQ(row.detail.rfind("healthy", 0), 0u) << node << ": " << row.detail;
        // The instances as `dmonctl status` has them, with the sink's delivery.
        EXPECT_NE(row.instances.find("proc_mem(proc_mem) running"), std::string::npos)
            << row.instances;
        EXPECT_NE(row.instances.find("amqp_publish(amqp_publish) running queued "),
                  std::string::npos)
            << row.instances;
        EXPECT_NE(row.instances.find(" dropped 0"), std::string::npos) << row.instances;
    }

    // 2. reload --group web: only the web agents move to generation 2.
    rows = fleet("reload --group web", code);
    EXPECT_EQ(code, 0) << last_output_;
    EXPECT_EQ(rows.size(), 3u) << last_output_;
    rows = fleet("status --all", code);
    for (const auto& node : kWeb)
        EXPECT_EQ(rows[node].generation, 2) << node << "\n" << last_output_;
    for (const auto& node : kDb)
        EXPECT_EQ(rows[node].generation, 1) << node << "\n" << last_output_;

    // 3. apply a config that adds proc_cpu to group web: its samples come from web only, and
    //    the web agents' files hold it (with their own node and fleet sections kept).
    const std::string with_cpu =
        folder_.file("with_cpu.yaml",
                     "interval: 1s\ncollectors:\n  - plugin: proc_mem\n  - plugin: proc_cpu\n"
                     "  - plugin: proc_system\n    name: rare\n    interval: 365d\n" +
                         agent_sinks());
    rows = fleet("apply " + with_cpu + " --group web", code);
    EXPECT_EQ(code, 0) << last_output_;
    ASSERT_EQ(rows.size(), 3u) << last_output_;
    for (const auto& node : kWeb) {
        EXPECT_EQ(rows[node].result, "ok") << node << ": " << rows[node].detail;
        EXPECT_EQ(rows[node].generation, 3) << node;
        const std::string file = read_text(folder_.path(node + ".yaml"));
        EXPECT_NE(file.find("plugin: proc_cpu"), std::string::npos) << file;
        EXPECT_NE(file.find("node: " + node), std::string::npos) << file;
        EXPECT_NE(file.find("admins: [fleetadmin]"), std::string::npos) << file;
    }
    EXPECT_TRUE(wait_for(
        [&] {
            for (const auto& node : kWeb)
                if (points(node, "system.cpu.time").empty())
                    return false;
            return true;
        },
        20s))
        << "proc_cpu samples from every web agent";
    for (const auto& node : kDb) {
        EXPECT_TRUE(points(node, "system.cpu.time").empty()) << node;
        EXPECT_EQ(read_text(folder_.path(node + ".yaml")).find("proc_cpu"), std::string::npos);
    }

    // 4. apply with an unknown plugin: every agent answers with the error, nothing changes.
    std::map<std::string, std::string> files_before;
    for (const auto& [node, process] : agents_)
        files_before[node] = read_text(folder_.path(node + ".yaml"));
    const std::string broken = folder_.file(
        "broken.yaml", "interval: 1s\ncollectors:\n  - plugin: proc_nonesuch\n" + agent_sinks());
    rows = fleet("apply " + broken + " --all", code);
    EXPECT_EQ(code, 1) << last_output_;
    ASSERT_EQ(rows.size(), 5u) << last_output_;
    for (const auto& [node, row] : rows) {
        EXPECT_EQ(row.result, "error") << node;
        EXPECT_NE(row.detail.find("unknown plugin 'proc_nonesuch'"), std::string::npos)
            << node << ": " << row.detail;
        EXPECT_EQ(row.generation, node.rfind("web", 0) == 0 ? 3 : 1) << node;
        EXPECT_EQ(read_text(folder_.path(node + ".yaml")), files_before[node]) << node;
    }

    // 5. collect: an extra round of `rare` (never run on its own) from group db reaches the
    //    controller's store; the web agents were not asked.
    rows = fleet("collect --group db --collector rare", code);
    EXPECT_EQ(code, 0) << last_output_;
    ASSERT_EQ(rows.size(), 2u) << last_output_;
    EXPECT_TRUE(wait_for(
        [&] {
            return !points("db-1", "system.uptime").empty() &&
                   !points("db-2", "system.uptime").empty();
        },
        20s))
        << "the extra round of db-1 and db-2 in the store";
    for (const auto& node : kWeb)
        EXPECT_TRUE(points(node, "system.uptime").empty()) << node;

    // 6. A user who is not an admin: nobody answers, each agent counts and logs the refusal.
    rows = fleet("ping --all", code, "intruder", "3s");
    EXPECT_EQ(code, 1) << last_output_;
    for (const auto& [node, row] : rows)
        EXPECT_EQ(row.result, "no answer") << node;
    EXPECT_TRUE(wait_for([&] { return fleet_count("web-1", "not_admin") >= 1; }, 20s))
        << "dmon.fleet.commands{result=not_admin} of web-1";
    EXPECT_NE(read_text(folder_.path("db-2.log")).find("command refused (not_admin)"),
              std::string::npos);

    // 7. A recorded command sent again is ignored (replay); one older than max_age too.
    fleet::Command ping{
        fleet::new_command_id(), fleet::unix_ms_now(), fleet::Verb::ping, "", "", {}};
    const std::string recorded = fleet::encode_command(ping);
    EXPECT_EQ(publish_and_count_answers(recorded, 3000ms), 5u);
    EXPECT_EQ(publish_and_count_answers(recorded, 2000ms), 0u);
    fleet::Command stale{
        fleet::new_command_id(), fleet::unix_ms_now() - 60'000, fleet::Verb::ping, "", "", {}};
    EXPECT_EQ(publish_and_count_answers(fleet::encode_command(stale), 2000ms), 0u);
    EXPECT_TRUE(wait_for(
        [&] { return fleet_count("db-1", "replayed") >= 1 && fleet_count("db-1", "expired") >= 1; },
        20s))
        << "dmon.fleet.commands{result=replayed|expired} of db-1";

    // 8. A stopped agent is "no answer", and the exit status says so.
    agents_["db-2"]->signal(SIGTERM);
    agents_["db-2"]->wait();
    rows = fleet("ping --all", code);
    EXPECT_EQ(code, 1) << last_output_;
    ASSERT_EQ(rows.size(), 5u) << last_output_;
    EXPECT_EQ(rows["db-2"].result, "no answer");
    for (const auto& node : {"web-1", "web-2", "web-3", "db-1"})
        EXPECT_EQ(rows[node].result, "ok") << node;
    // A node glob reaches only the matching agents.
    rows = fleet("ping --node 'web-?'", code);
    EXPECT_EQ(code, 0) << last_output_;
    EXPECT_EQ(rows.size(), 3u) << last_output_;
}

}  // namespace
}  // namespace dmon::test
