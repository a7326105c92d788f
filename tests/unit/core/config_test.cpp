// Config parsing and option validation: good files, and bad ones with the exact message.
#include "dmon/core/config.hpp"
#include "dmon/core/host.hpp"
#include "dmon/core/options.hpp"

#include <dmon/plugin.hpp>

#include <gtest/gtest.h>

#include <cstdlib>

namespace dmon::core {
namespace {
using namespace std::chrono_literals;

// setenv/unsetenv are POSIX; these tests also run as Windows executables under Wine.
void set_variable(const char* name, const char* value) {
#ifdef _WIN32
    _putenv_s(name, value == nullptr ? "" : value);
#else
    if (value == nullptr)
        ::unsetenv(name);
    else
        ::setenv(name, value, 1);
#endif
}

std::vector<std::string> errors_of(const std::function<void()>& body) {
    try {
        body();
    } catch (const ConfigError& e) {
        return e.messages();
    }
    ADD_FAILURE() << "expected a ConfigError";
    return {};
}

TEST(Config, ParsesTheDocumentedShape) {
    const auto config = parse_config(R"(
node: web-1
interval: 10s
log_level: debug
plugin_paths: [plugins]
collectors:
  - plugin: proc_cpu
    interval: 1s
    per_cpu: true
  - plugin: proc_disk
    name: disks
    devices: ["sd*", "nvme*"]
sinks:
  - plugin: stdout
    batch_size: 500
    flush_interval: 2s
    queue_size: 5000
)",
                                     "agent.yaml");
    EXPECT_EQ(config.node, "web-1");
    EXPECT_EQ(config.interval, 10s);
    EXPECT_EQ(config.log_level, "debug");
    ASSERT_EQ(config.collectors.size(), 2u);
    EXPECT_EQ(config.collectors[0].plugin, "proc_cpu");
    EXPECT_EQ(config.collectors[0].name, "proc_cpu");
    EXPECT_EQ(config.collectors[0].interval, 1s);
    ASSERT_NE(config.collectors[0].options.find("per_cpu"), nullptr);
    EXPECT_EQ(config.collectors[0].options.find("per_cpu")->scalar(), "true");
    EXPECT_EQ(config.collectors[0].options.find("interval"), nullptr);  // a host key, not an option
    EXPECT_EQ(config.collectors[1].name, "disks");
    EXPECT_EQ(config.collectors[1].location.to_string(), "agent.yaml:10:5");
    ASSERT_EQ(config.sinks.size(), 1u);
    EXPECT_EQ(config.sinks[0].batch_size, 500u);
    EXPECT_EQ(config.sinks[0].flush_interval, 2s);
    EXPECT_EQ(config.sinks[0].queue_size, 5000u);
}

TEST(Config, YamlSyntaxErrorNamesLineAndColumn) {
    EXPECT_EQ(errors_of([] { parse_config("collectors:\n  - plugin: [proc_cpu\n", "bad.yaml"); }),
              std::vector<std::string>{
                  "bad.yaml:3:1: YAML syntax error: did not find expected ',' or ']' (while "
                  "parsing a flow sequence at line 2, column 13)"});
}

// ---- the YAML reader (libyaml events into a tree) --------------------------------------------

TEST(Yaml, ScalarsNullsListsMapsAndTheirPositions) {
    const auto root = yaml::parse("a: 1\nb: ~\nc:\nd: 'null'\ne: [x, \"y z\"]\nf:\n  g: NULL\n");
    ASSERT_TRUE(root.is_map());
    ASSERT_EQ(root.entries().size(), 6u);
    EXPECT_EQ(root.find("a")->scalar(), "1");
    EXPECT_EQ(root.find("a")->mark().line, 1);
    EXPECT_EQ(root.find("a")->mark().column, 4);
    EXPECT_TRUE(root.find("b")->is_null());
    EXPECT_TRUE(root.find("c")->is_null());
    EXPECT_EQ(root.find("c")->mark().line, 3);  // an empty value sits after its key
    EXPECT_TRUE(root.find("d")->is_scalar());   // quoted: text, not null
    EXPECT_EQ(root.find("d")->scalar(), "null");
    const auto& list = root.find("e")->items();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[1].scalar(), "y z");
    EXPECT_EQ(list[1].mark().column, 8);
    EXPECT_TRUE(root.find("f")->find("g")->is_null());
    EXPECT_EQ(root.find("nothing"), nullptr);
    EXPECT_TRUE(yaml::parse("").is_null());
    EXPECT_TRUE(yaml::parse("# only a comment\n").is_null());
}

TEST(Yaml, AliasesAreExpandedWithinBounds) {
    const auto root = yaml::parse("base: &b {x: 1, y: [2]}\ncopy: *b\n");
    EXPECT_EQ(root.find("copy")->fingerprint(), root.find("base")->fingerprint());
    EXPECT_EQ(root.find("copy")->find("y")->items()[0].scalar(), "2");
    // "Billion laughs": each level doubles the last; refused when the expansion passes the bound.
    std::string laughs = "a0: &a0 [lol, lol]\n";
    for (int i = 1; i < 30; ++i)
        laughs += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [*a" +
                  std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + "]\n";
    try {
        yaml::parse(laughs);
        ADD_FAILURE() << "an exponential expansion was accepted";
    } catch (const yaml::ParseError& e) {
        EXPECT_NE(std::string(e.what()).find("more than 100000 values"), std::string::npos)
            << e.what();
    }
    EXPECT_THROW(yaml::parse("x: *nowhere\n"), yaml::ParseError);
}

TEST(Yaml, DepthDuplicatesAndSecondDocumentsAreRefused) {
    const std::string deep = std::string(100, '[') + std::string(100, ']');
    try {
        yaml::parse(deep);
        ADD_FAILURE() << "100 levels were accepted";
    } catch (const yaml::ParseError& e) {
        EXPECT_EQ(std::string(e.what()), "nested deeper than 64 levels");
        EXPECT_EQ(e.mark().column, 65);
    }
    try {
        yaml::parse("interval: 1s\nnode: a\ninterval: 5s\n");
        ADD_FAILURE() << "a key given twice was accepted";
    } catch (const yaml::ParseError& e) {
        EXPECT_EQ(std::string(e.what()), "key 'interval' is given twice in this map");
        EXPECT_EQ(e.mark().line, 3);
    }
    EXPECT_THROW(yaml::parse("a: 1\n---\nb: 2\n"), yaml::ParseError);
    EXPECT_NO_THROW(yaml::parse("---\na: 1\n...\n"));
    EXPECT_THROW(yaml::parse(std::string("a: \xff\xfe\n")), yaml::ParseError);  // not UTF-8
}

TEST(Config, AKeyGivenTwiceIsAnErrorNotASilentChoice) {
    EXPECT_EQ(errors_of([] {
                  parse_config(
                      "collectors:\n  - plugin: proc_cpu\n    per_cpu: true\n"
                      "    per_cpu: false\n",
                      "twice.yaml");
              }),
              std::vector<std::string>{
                  "twice.yaml:4:5: YAML syntax error: key 'per_cpu' is given twice in this map"});
}

TEST(Config, FingerprintsTellChangedOptionsFromTheSame) {
    const auto a = parse_config("collectors:\n  - plugin: exec\n    command: [a, b]\n", "f.yaml");
    const auto same = parse_config("collectors:\n- plugin: exec\n  command: [a,   b]\n", "f.yaml");
    const auto other = parse_config("collectors:\n  - plugin: exec\n    command: [ab]\n", "f.yaml");
    EXPECT_EQ(a.collectors[0].options_fingerprint, same.collectors[0].options_fingerprint);
    EXPECT_NE(a.collectors[0].options_fingerprint, other.collectors[0].options_fingerprint);
}

TEST(Config, UnknownTopLevelKeyListsTheValidOnes) {
    EXPECT_EQ(
        errors_of([] { parse_config("node: a\nintervall: 5s\n", "a.yaml"); }),
        std::vector<std::string>{"a.yaml:2:1: unknown key 'intervall'; valid keys: node, interval, "
                                 "log_level, plugin_paths, "
                                 "threads, self_metrics, shutdown_timeout, control, watch_config, "
                                 "collectors, sinks, fleet"});
}

TEST(Config, WrongTypesAreReportedTogether) {
    const auto errors = errors_of([] {
        parse_config(
            "interval: soon\nthreads: many\ncollectors:\n  - plugin: proc_cpu\n    interval: -1s\n"
            "sinks:\n  - plugin: stdout\n    batch_size: 0\n",
            "t.yaml");
    });
    EXPECT_EQ(errors, (std::vector<std::string>{
                          "t.yaml:1:11: interval must be a positive duration such as 500ms, 10s, "
                          "5m, 1h or 7d; got 'soon'",
                          "t.yaml:2:10: threads must be a whole number from 1 to 64; got 'many'",
                          "t.yaml:5:15: collector 'proc_cpu': interval must be a positive duration "
                          "such as 500ms, "
                          "10s, 5m, 1h or 7d; got '-1s'",
                          "t.yaml:8:17: sink 'stdout': batch_size must be a whole number from 1 to "
                          "1000000; got '0'"}));
}

TEST(Config, DeliveryKeysOfASink) {
    const HostConfig config = parse_config(
        "sinks:\n  - plugin: amqp_publish\n    overflow: drop_newest\n    spool: /var/spool/x\n"
        "    spool_size: 512MiB\n    queue_size: 5000\n  - plugin: stdout\n",
        "d.yaml");
    ASSERT_EQ(config.sinks.size(), 2u);
    EXPECT_EQ(config.sinks[0].overflow, "drop_newest");
    EXPECT_EQ(config.sinks[0].spool, "/var/spool/x");
    EXPECT_EQ(config.sinks[0].spool_size, uint64_t{512} << 20);
    EXPECT_EQ(config.sinks[0].queue_size, 5000u);
    EXPECT_TRUE(config.sinks[0].options.entries().empty());  // none of them reaches the plugin
    EXPECT_EQ(config.sinks[1].overflow, "drop_oldest");      // the defaults
    EXPECT_EQ(config.sinks[1].spool, "");
    EXPECT_EQ(config.sinks[1].spool_size, uint64_t{1} << 30);
    // A changed spool is a changed instance (hot reload replaces it).
    EXPECT_NE(config.sinks[0].options_fingerprint,
              parse_config("sinks:\n  - plugin: amqp_publish\n    overflow: drop_newest\n"
                           "    spool: /var/spool/y\n    spool_size: 512MiB\n"
                           "    queue_size: 5000\n",
                           "d.yaml")
                  .sinks[0]
                  .options_fingerprint);
}

TEST(Config, BadDeliveryKeysSayWhatIsExpected) {
    const auto errors = errors_of([] {
        parse_config(
            "sinks:\n  - plugin: stdout\n    overflow: drop_all\n    spool_size: huge\n"
            "  - plugin: stdout\n    name: two\n    spool_size: 1KiB\n",
            "o.yaml");
    });
    EXPECT_EQ(errors,
              (std::vector<std::string>{
                  "o.yaml:3:15: sink 'stdout': overflow must be drop_oldest or drop_newest; got "
                  "'drop_all'",
                  "o.yaml:4:17: sink 'stdout': spool_size must be a size of at least 64KiB such "
                  "as 512MiB or 1GiB; got 'huge'",
                  "o.yaml:7:17: sink 'two' (stdout): spool_size must be a size of at least 64KiB "
                  "such as 512MiB or 1GiB; got '1KiB'"}));
}

TEST(Config, EntriesNeedAPluginAndUniqueNames) {
    const auto errors = errors_of([] {
        parse_config("collectors:\n  - name: x\n  - plugin: proc_cpu\n  - plugin: proc_cpu\n",
                     "n.yaml");
    });
    EXPECT_EQ(
        errors,
        (std::vector<std::string>{
            "n.yaml:2:5: collectors[0]: missing key 'plugin' (the plugin library's name, e.g. "
            "proc_cpu)",
            "n.yaml:4:5: collector 'proc_cpu': the name 'proc_cpu' is used twice; give one of them "
            "another 'name:'"}));
}

TEST(Config, EnvironmentVariablesAndDefaults) {
    set_variable("DMON_TEST_NODE", "from-env");
    set_variable("DMON_TEST_UNSET", nullptr);
    std::vector<std::string> errors;
    EXPECT_EQ(substitute_environment("${DMON_TEST_NODE}.${DMON_TEST_UNSET:-x}, $${HOME}",
                                     Location{"e.yaml", 1, 7}, errors),
              "from-env.x, ${HOME}");
    EXPECT_TRUE(errors.empty());
}

// Issue 9: a value is a value. Spliced into the text, '#' started a comment, ': ' made a map
// and a newline a new key; substituted into the parsed scalar, each stays part of the value.
TEST(Config, AVariableCannotChangeTheFilesStructure) {
    set_variable("DMON_TEST_NODE", "web1 # not a comment");
    set_variable("DMON_TEST_SPOOL", "/tmp/a: b\nlog_level: off");
    set_variable("DMON_TEST_EMPTY", nullptr);
    const HostConfig config = parse_config(
        "node: ${DMON_TEST_NODE}\n"
        "control: ${DMON_TEST_EMPTY:-}\n"
        "# ${DMON_TEST_UNSET_IN_A_COMMENT} is not read\n"
        "sinks:\n"
        "  - plugin: stdout\n"
        "    spool: ${DMON_TEST_SPOOL}\n",
        "s.yaml");
    EXPECT_EQ(config.node, "web1 # not a comment");
    EXPECT_EQ(config.control, "");
    EXPECT_EQ(config.log_level, "info");
    ASSERT_EQ(config.sinks.size(), 1u);
    EXPECT_EQ(config.sinks[0].spool, "/tmp/a: b\nlog_level: off");
}

// Found by the config fuzzer: a list used as a key threw yaml-cpp's own exception out of the
// parser instead of a ConfigError.
TEST(Config, AKeyThatIsNotAWordIsAnError) {
    EXPECT_EQ(errors_of([] { parse_config("? - a\n: 1\nnode: x\n", "k.yaml"); }),
              std::vector<std::string>{"k.yaml:1:3: a key must be a plain word"});
    EXPECT_EQ(errors_of([] {
                  parse_config("sinks:\n  - plugin: stdout\n    ? [a, b]\n    : 1\n", "k.yaml");
              }),
              std::vector<std::string>{"k.yaml:3:7: sink 'stdout': a key must be a plain word"});
}

TEST(Config, MissingVariableNamesLineAndColumn) {
    set_variable("DMON_TEST_MISSING", nullptr);
    EXPECT_EQ(errors_of([] {
                  parse_config("node: a\nsinks:\n  - url: ${DMON_TEST_MISSING}\n", "v.yaml");
              }),
              std::vector<std::string>{
                  "v.yaml:3:10: environment variable 'DMON_TEST_MISSING' is not set (write "
                  "${DMON_TEST_MISSING:-default} to give a default)"});
}

TEST(Config, MissingFileIsOneClearLine) {
    EXPECT_EQ(errors_of([] { load_config("/nonexistent/dmon.yaml"); }),
              std::vector<std::string>{"/nonexistent/dmon.yaml: cannot open the config file"});
}

// A built-in plugin with declared options, to check validation without a library file.
constexpr dmon_option_decl kDeclared[] = {
    sdk::option("per_cpu", DMON_OPT_BOOL, "true", "per-cpu samples"),
    sdk::option("limit", DMON_OPT_INT, nullptr, "a limit", true),
    sdk::option("devices", DMON_OPT_STRING_LIST, "sd*,vd*", "devices"),
    sdk::option("timeout", DMON_OPT_DURATION, "5s", "timeout"),
};
class Declared : public sdk::Collector {
  public:
    explicit Declared(const sdk::Context&) {}
    void collect(sdk::Emitter&) override {}
};
const dmon_plugin_descriptor kDeclaredDescriptor = sdk::detail::make_descriptor<Declared>(
    DMON_KIND_COLLECTOR, "declared", "1.0.0", "test", kDeclared, 0);

class Sinkish : public sdk::Sink {
  public:
    explicit Sinkish(const sdk::Context&) {}
    void write(const sdk::Batch&) override {}
};
const dmon_plugin_descriptor kSinkDescriptor = sdk::detail::make_descriptor<Sinkish>(
    DMON_KIND_SINK, "sinkish", "1.0.0", "test", sdk::kNoOptions, 0);

std::vector<std::string> plan_errors(const std::string& text) {
    PluginCatalog catalog({"/nonexistent-plugins"});
    catalog.add_builtin("declared", &kDeclaredDescriptor);
    catalog.add_builtin("sinkish", &kSinkDescriptor);
    return errors_of([&] { plan_plugins(parse_config(text, "p.yaml"), catalog); });
}

TEST(Options, UnknownKeyListsValidKeys) {
    EXPECT_EQ(plan_errors("collectors:\n  - plugin: declared\n    limit: 3\n    per_cpux: true\n"),
              std::vector<std::string>{
                  "p.yaml:4:5: collector 'declared': unknown key 'per_cpux'; valid keys: "
                  "plugin, name, interval, isolate, deadline, memory_limit, per_cpu, limit, "
                  "devices, timeout"});
}

TEST(Options, WrongTypeAndMissingRequired) {
    EXPECT_EQ(
        plan_errors("collectors:\n  - plugin: declared\n    name: d1\n    per_cpu: yes please\n"
                    "    timeout: 3 weeks\n"),
        (std::vector<std::string>{"p.yaml:4:14: collector 'd1' (declared): option 'per_cpu' must "
                                  "be true or false; got 'yes please'",
                                  "p.yaml:5:14: collector 'd1' (declared): option 'timeout' must "
                                  "be a duration such as 500ms, 10s "
                                  "or 5m; got '3 weeks'",
                                  "p.yaml:2:5: collector 'd1' (declared): missing required option "
                                  "'limit' (a whole number: a limit)"}));
}

TEST(Options, UnknownPluginNamesTheFoldersSearched) {
    EXPECT_EQ(plan_errors("collectors:\n  - plugin: proc_cpux\n"),
              std::vector<std::string>{
                  "p.yaml:2:5: collector 'proc_cpux': unknown plugin 'proc_cpux': no " +
                  PluginCatalog::file_name("proc_cpux") + " in /nonexistent-plugins"});
}

TEST(Options, PluginUnderTheWrongSection) {
    EXPECT_EQ(plan_errors("sinks:\n  - plugin: declared\n    limit: 1\n"),
              std::vector<std::string>{
                  "p.yaml:2:5: sink 'declared': plugin 'declared' is a collector; list it "
                  "under collectors:"});
}

TEST(Options, ValuesAndDefaultsReachThePlugin) {
    PluginCatalog catalog({});
    catalog.add_builtin("declared", &kDeclaredDescriptor);
    const auto plan = plan_plugins(
        parse_config("collectors:\n  - plugin: declared\n    limit: 42\n    devices: nvme*\n",
                     "ok.yaml"),
        catalog);
    ASSERT_EQ(plan.collectors.size(), 1u);
    const OptionSet& options = plan.collectors[0].options;
    int64_t limit = 0, timeout = 0;
    int per_cpu = 0;
    dmon_str item{};
    EXPECT_EQ(option_int(&options, "limit", &limit), 1);
    EXPECT_EQ(limit, 42);
    EXPECT_EQ(option_bool(&options, "per_cpu", &per_cpu), 1);
    EXPECT_EQ(per_cpu, 1);
    EXPECT_EQ(option_duration_ns(&options, "timeout", &timeout), 1);
    EXPECT_EQ(timeout, 5'000'000'000);
    EXPECT_EQ(option_list_size(&options, "devices"), 1u);
    ASSERT_EQ(option_list_item(&options, "devices", 0, &item), 1);
    EXPECT_EQ(std::string(item.data, item.size), "nvme*");
    // Asking with the wrong type, or for an option that was never declared, finds nothing.
    EXPECT_EQ(option_int(&options, "per_cpu", &limit), 0);
    EXPECT_EQ(option_string(&options, "nope", &item), 0);
}

}  // namespace
}  // namespace dmon::core

namespace dmon::core {
namespace {

constexpr dmon_option_decl kMapped[] = {
    sdk::option("groups", DMON_OPT_MAP, nullptr, "name -> regex, or name -> {field: value}"),
};
const dmon_plugin_descriptor kMappedDescriptor = sdk::detail::make_descriptor<Declared>(
    DMON_KIND_COLLECTOR, "mapped", "1.0.0", "test", kMapped, 0);

TEST(Options, MapOfStringsAndOfMapsKeepsTheYamlOrder) {
    PluginCatalog catalog({});
    catalog.add_builtin("mapped", &kMappedDescriptor);
    const auto plan = plan_plugins(
        parse_config("collectors:\n  - plugin: mapped\n    groups:\n      web: \"^nginx\"\n"
                     "      db: {name: \"^postgres\", user: postgres}\n      all: '.*'\n",
                     "map.yaml"),
        catalog);
    ASSERT_EQ(plan.collectors.size(), 1u);
    const OptionSet& options = plan.collectors[0].options;
    ASSERT_EQ(option_map_size(&options, "groups"), 4u);
    std::vector<std::string> seen;
    for (size_t i = 0; i < 4; ++i) {
        dmon_str key{}, field{}, value{};
        ASSERT_EQ(option_map_item(&options, "groups", i, &key, &field, &value), 1);
        seen.push_back(std::string(to_view(key)) + "/" + std::string(to_view(field)) + "/" +
                       std::string(to_view(value)));
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"web//^nginx", "db/name/^postgres",
                                              "db/user/postgres", "all//.*"}));
    dmon_str key{}, field{}, value{};
    EXPECT_EQ(option_map_item(&options, "groups", 4, &key, &field, &value), 0);
    // Not set: no entries (a map has no default).
    const auto empty =
        plan_plugins(parse_config("collectors:\n  - plugin: mapped\n", "e.yaml"), catalog);
    EXPECT_EQ(option_map_size(&empty.collectors[0].options, "groups"), 0u);
}

TEST(Options, MapRefusesListsAndDeeperNesting) {
    PluginCatalog catalog({"/nonexistent-plugins"});
    catalog.add_builtin("mapped", &kMappedDescriptor);
    const auto errors = [&](const std::string& text) {
        return errors_of([&] { plan_plugins(parse_config(text, "m.yaml"), catalog); });
    };
    EXPECT_EQ(errors("collectors:\n  - plugin: mapped\n    groups: [a, b]\n"),
              std::vector<std::string>{
                  "m.yaml:3:13: collector 'mapped': option 'groups' must be a map of names to "
                  "strings or to maps of strings; got a list or map"});
    EXPECT_EQ(
        errors("collectors:\n  - plugin: mapped\n    groups: {a: {name: {deep: x}}}\n").size(), 1u);
}

}  // namespace
}  // namespace dmon::core
