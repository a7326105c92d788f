// Fleet control's messages, gate and apply document, from recorded bytes (hosts/fleet).
#include <apply_document.hpp>
#include <protocol.hpp>

#include <dmon/core/config.hpp>
#include <dmon/core/text.hpp>

#include <gtest/gtest.h>

namespace dmon::fleet {
namespace {

constexpr int64_t kNow = 1'796'000'000'000;  // ms

std::string refused(std::string_view body) {
    std::string error;
    EXPECT_FALSE(parse_command(body, error).has_value()) << body;
    return error;
}

TEST(FleetProtocol, ParsesEachCommand) {
    std::string error;
    auto status = parse_command(
        R"({"v":1,"id":"0123456789abcdef","at_ms":1796000000000,"command":"status"})", error);
    ASSERT_TRUE(status) << error;
    EXPECT_EQ(status->id, "0123456789abcdef");
    EXPECT_EQ(status->at_ms, 1'796'000'000'000);
    EXPECT_EQ(status->verb, Verb::status);
    EXPECT_EQ(status->nodes, "");

    auto apply = parse_command(R"({"v":1,"id":"apply-0001","at_ms":5,"command":"apply",)"
                               R"("nodes":"web-*","config":"interval: 5s\n"})",
                               error);
    ASSERT_TRUE(apply) << error;
    EXPECT_EQ(apply->verb, Verb::apply);
    EXPECT_EQ(apply->nodes, "web-*");
    EXPECT_EQ(apply->config, "interval: 5s\n");

    auto collect = parse_command(
        R"({"v":1,"id":"collect_01","at_ms":5,"command":"collect","collectors":["cpu","mem"]})",
        error);
    ASSERT_TRUE(collect) << error;
    EXPECT_EQ(collect->collectors, (std::vector<std::string>{"cpu", "mem"}));
}

TEST(FleetProtocol, RefusesWhatIsNotACommandWithAReason) {
    EXPECT_EQ(refused("not json"), "the body is not a JSON object");
    EXPECT_EQ(refused("[1]"), "the body is not a JSON object");
    EXPECT_EQ(refused(R"({"v":2,"id":"0123456789","at_ms":1,"command":"ping"})"),
              "'v' must be 1 (this agent speaks version 1 of the fleet protocol)");
    EXPECT_EQ(refused(R"({"v":1,"id":"short","at_ms":1,"command":"ping"})"),
              "'id' must be 8 to 64 letters, digits, '-' or '_'");
    EXPECT_EQ(refused(R"({"v":1,"id":"has space 123","at_ms":1,"command":"ping"})"),
              "'id' must be 8 to 64 letters, digits, '-' or '_'");
    EXPECT_EQ(refused(R"({"v":1,"id":"0123456789","command":"ping"})"),
              "'at_ms' (when it was sent, Unix milliseconds) is missing");
    EXPECT_EQ(refused(R"({"v":1,"id":"0123456789","at_ms":1,"command":"rm -rf"})"),
              "'command' must be ping, status, reload, apply or collect");
    EXPECT_EQ(refused(R"({"v":1,"id":"0123456789","at_ms":1,"command":7})"),
              "'command' must be a string");
    EXPECT_EQ(refused(R"({"v":1,"id":"0123456789","at_ms":1,"command":"apply"})"),
              "apply needs 'config': the new config document");
    EXPECT_EQ(
        refused(R"({"v":1,"id":"0123456789","at_ms":1,"command":"collect","collectors":[1]})"),
        "'collectors' must hold names (strings of 1 to 256 bytes)");
    EXPECT_EQ(refused(std::string(200, '[') + std::string(200, ']')),
              "the command nests deeper than 8 levels");
    EXPECT_EQ(refused(std::string(kMaxCommandBytes + 1, ' ')),
              "the command is 1048577 bytes, more than 1048576");
}

TEST(FleetProtocol, EncodedCommandsAndRepliesReadBack) {
    Command command{"feedfacefeedface", kNow, Verb::collect, "db-?", "", {"cpu"}};
    std::string error;
    const auto back = parse_command(encode_command(command), error);
    ASSERT_TRUE(back) << error;
    EXPECT_EQ(back->id, command.id);
    EXPECT_EQ(back->at_ms, kNow);
    EXPECT_EQ(back->verb, Verb::collect);
    EXPECT_EQ(back->nodes, "db-?");
    EXPECT_EQ(back->collectors, command.collectors);

    Reply reply;
    reply.id = "feedfacefeedface";
    reply.node = "db-1";
    reply.groups = {"db", "eu-west"};
    reply.ok = true;
    reply.generation = 4;
    reply.detail = "12 samples from 1 collector(s)";
    reply.instances.push_back({"cpu", "collector", "proc_cpu", "running", 120, 0});
    reply.instances.push_back(
        {"mq", "sink", "amqp_publish", "failing", 100, 3, 7, 20, 1, "broker away"});
    const auto read = parse_reply(encode_reply(reply), error);
    ASSERT_TRUE(read) << error;
    EXPECT_EQ(read->node, "db-1");
    EXPECT_EQ(read->groups, reply.groups);
    EXPECT_TRUE(read->ok);
    EXPECT_EQ(read->generation, 4u);
    EXPECT_EQ(read->detail, reply.detail);
    ASSERT_EQ(read->instances.size(), 2u);
    EXPECT_EQ(read->instances[0].plugin, "proc_cpu");
    EXPECT_EQ(read->instances[0].samples, 120u);
    EXPECT_EQ(read->instances[1].state, "failing");
    EXPECT_EQ(read->instances[1].queued, 7u);
    EXPECT_EQ(read->instances[1].spooled, 20u);
    EXPECT_EQ(read->instances[1].dropped, 1u);
    EXPECT_EQ(read->instances[1].last_error, "broker away");

    EXPECT_FALSE(parse_reply(R"({"id":"x","ok":true})", error));
    EXPECT_FALSE(parse_reply(R"({"id":"x","node":"","ok":true})", error));
    EXPECT_EQ(error, "an answer without a node");
}

TEST(FleetProtocol, GlobsMatchNamesWithStarAndQuestionMark) {
    EXPECT_TRUE(glob_match("web-*", "web-1"));
    EXPECT_TRUE(glob_match("web-*", "web-"));
    EXPECT_FALSE(glob_match("web-*", "db-1"));
    EXPECT_TRUE(glob_match("*-eu-?", "web-eu-1"));
    EXPECT_FALSE(glob_match("*-eu-?", "web-eu-12"));
    EXPECT_TRUE(glob_match("*", ""));
    EXPECT_TRUE(glob_match("a*b*c", "aXXbYYc"));
    EXPECT_FALSE(glob_match("a*b*c", "aXXbYY"));
    // No exponential back-tracking on a hostile pattern.
    EXPECT_FALSE(glob_match(std::string(50, '*') + "b", std::string(100000, 'a')));
}

TEST(FleetGate, ObeysAdminsOnlyOnceAndOnlyWhileFresh) {
    CommandGate gate({"admin", "ops"}, std::chrono::seconds(30));
    Command command{"0123456789abcdef", kNow, Verb::reload, "", "", {}};
    EXPECT_EQ(gate.check(command, "", kNow), Verdict::not_admin);
    EXPECT_EQ(gate.check(command, "agent-7", kNow), Verdict::not_admin);
    EXPECT_EQ(gate.check(command, "admin", kNow + 1000), Verdict::obey);
    EXPECT_EQ(gate.check(command, "admin", kNow + 2000), Verdict::replayed);
    EXPECT_EQ(gate.check(command, "ops", kNow + 29'000), Verdict::replayed);
    EXPECT_EQ(gate.check(command, "admin", kNow + 30'001), Verdict::expired);

    Command late{"late-000000001", kNow - 31'000, Verb::ping, "", "", {}};
    EXPECT_EQ(gate.check(late, "admin", kNow), Verdict::expired);
    Command ahead{"ahead-00000001", kNow + 31'000, Verb::ping, "", "", {}};
    EXPECT_EQ(gate.check(ahead, "admin", kNow), Verdict::future);
    // A little ahead is obeyed, and remembered until it has expired too.
    Command fast{"fast-000000001", kNow + 20'000, Verb::ping, "", "", {}};
    EXPECT_EQ(gate.check(fast, "admin", kNow), Verdict::obey);
    EXPECT_EQ(gate.check(fast, "admin", kNow + 45'000), Verdict::replayed);
    EXPECT_EQ(gate.check(fast, "admin", kNow + 50'001), Verdict::expired);
}

TEST(FleetGate, ForgetsOldIdsAndRefusesAFlood) {
    CommandGate gate({"admin"}, std::chrono::seconds(30));
    for (size_t i = 0; i < kMaxRememberedIds; ++i) {
        Command command{"flood-" + std::to_string(100000 + i), kNow, Verb::ping, "", "", {}};
        ASSERT_EQ(gate.check(command, "admin", kNow), Verdict::obey) << i;
    }
    Command one_more{"flood-one-more", kNow, Verb::ping, "", "", {}};
    EXPECT_EQ(gate.check(one_more, "admin", kNow), Verdict::flood);
    EXPECT_EQ(gate.remembered(), kMaxRememberedIds);
    // Once they are older than max_age they are forgotten (they would be refused as expired).
    one_more.at_ms = kNow + 31'000;
    EXPECT_EQ(gate.check(one_more, "admin", kNow + 31'000), Verdict::obey);
    EXPECT_EQ(gate.remembered(), 1u);
}

TEST(FleetApply, KeepsTheHostsOwnSectionsAndRefusesThemInTheDocument) {
    const std::string local =
        "# my agent\n"
        "node: web-1\n"
        "interval: 10s\n"
        "plugin_paths:\n"
        "- /opt/dmon/plugins\n"
        "fleet:\n"
        "  url: amqp://web-1@broker/\n"
        "  admins: [ops]\n"
        "\n"
        "collectors:\n"
        "  - plugin: proc_cpu\n";
    std::string error;
    const std::string applied = compose_applied_config(
        "interval: 5s\ncollectors:\n  - plugin: proc_mem\nsinks:\n  - plugin: stdout", local,
        error);
    EXPECT_EQ(error, "");
    EXPECT_EQ(applied,
              "interval: 5s\ncollectors:\n  - plugin: proc_mem\nsinks:\n  - plugin: stdout\n"
              "\n# Kept from this host's own file by `dmonctl fleet apply`:\n"
              "node: web-1\n"
              "plugin_paths:\n"
              "- /opt/dmon/plugins\n"
              "fleet:\n"
              "  url: amqp://web-1@broker/\n"
              "  admins: [ops]\n"
              "\n");
    const auto config = core::parse_config(applied, "agent.yaml");
    EXPECT_EQ(config.node, "web-1");
    EXPECT_EQ(config.plugin_paths.size(), 1u);
    EXPECT_TRUE(config.fleet.enabled);
    EXPECT_EQ(config.fleet.admins, std::vector<std::string>{"ops"});
    ASSERT_EQ(config.collectors.size(), 1u);
    EXPECT_EQ(config.collectors[0].plugin, "proc_mem");

    for (const char* key : {"node: x\n", "plugin_paths: [/tmp/evil]\n",
                            "fleet:\n  url: amqp://x/\n  admins: [me]\n"}) {
        error.clear();
        EXPECT_EQ(compose_applied_config(std::string("interval: 5s\n") + key, local, error), "");
        EXPECT_NE(error.find("which is each host's own"), std::string::npos) << error;
    }
    error.clear();
    EXPECT_EQ(compose_applied_config("- a list", local, error), "");
    EXPECT_EQ(error,
              "the document must be a config: a map of keys (interval, collectors, sinks, ...)");
    error.clear();
    EXPECT_EQ(compose_applied_config("a: [", local, error), "");
    EXPECT_EQ(error.rfind("the document is not YAML", 0), 0u) << error;
}

TEST(FleetConfig, TheSectionIsCheckedWithReasons) {
    const auto config = core::parse_config(
        "fleet:\n  url: amqp://agent@127.0.0.1/\n  groups: [web, eu-west]\n  admins: [ops]\n"
        "  accept_config: true\n  max_age: 10s\n",
        "a.yaml");
    EXPECT_TRUE(config.fleet.enabled);
    EXPECT_EQ(config.fleet.urls, std::vector<std::string>{"amqp://agent@127.0.0.1/"});
    EXPECT_EQ(config.fleet.groups, (std::vector<std::string>{"web", "eu-west"}));
    EXPECT_TRUE(config.fleet.accept_config);
    EXPECT_EQ(config.fleet.max_age, std::chrono::seconds(10));
    EXPECT_EQ(config.fleet.exchange, "dmon.control");
    EXPECT_FALSE(core::parse_config("interval: 1s\n", "a.yaml").fleet.enabled);

    const auto errors_of = [](const std::string& text) {
        try {
            core::parse_config(text, "a.yaml");
        } catch (const core::ConfigError& e) {
            return core::join(e.messages(), " | ");
        }
        return std::string();
    };
    EXPECT_EQ(errors_of("fleet:\n  url: amqp://x/\n"),
              "a.yaml:2:3: fleet: fleet needs admins: the AMQP users whose commands this host "
              "obeys (nobody else's are)");
    EXPECT_EQ(errors_of("fleet:\n  admins: [ops]\n"),
              "a.yaml:2:3: fleet: fleet needs url (or urls): the broker that carries the "
              "commands");
    EXPECT_EQ(errors_of("fleet:\n  url: amqp://x/\n  admins: [ops]\n  groups: [web, 'a#b']\n"),
              "a.yaml:4:11: fleet: group 'a#b' must be 1 to 100 letters, digits, '-', '_' or "
              "'.' (it is a routing key)");
    EXPECT_EQ(errors_of("fleet:\n  url: amqp://x/\n  admins: [ops]\n  accept: true\n"),
              "a.yaml:4:3: fleet: unknown key 'accept'; valid keys: url, urls, password_file, "
              "password_env, exchange, groups, admins, accept_config, max_age");
}

}  // namespace
}  // namespace dmon::fleet
