// Plugin loading: tiny plugins that each get one thing wrong are refused with a message that
// names the file and the reason.
#include "dmon/core/host.hpp"
#include "dmon/core/plugin_instance.hpp"
#include "dmon/core/plugin_library.hpp"

#include <gtest/gtest.h>

namespace dmon::core {
namespace {

const std::string kTestPlugins = DMON_TEST_PLUGIN_DIR;

std::string load_error(const std::string& name) {
    PluginCatalog catalog({kTestPlugins});
    try {
        catalog.load(name);
    } catch (const PluginLoadError& e) {
        return e.what();
    }
    return "(loaded)";
}

TEST(Loader, LibraryWithoutEntrySymbolIsRefused) {
    EXPECT_EQ(load_error("bad_no_entry"),
              kTestPlugins +
                  "/bad_no_entry.so: not a dmon plugin: it does not export 'dmon_plugin_entry' "
                  "(include <dmon/plugin.h> in the file that defines it, which declares it "
                  "exported and extern \"C\", or use DMON_COLLECTOR / DMON_SINK from "
                  "<dmon/plugin.hpp>; `nm -D` on the file lists what it exports)");
}

TEST(Loader, AnotherAbiMajorIsRefused) {
    EXPECT_EQ(load_error("bad_abi"),
              kTestPlugins +
                  "/bad_abi.so: built for plugin ABI 99.0, this host speaks ABI 1.3; "
                  "rebuild the plugin against this SDK");
}

TEST(Loader, AMissingRequiredCallbackIsNamed) {
    EXPECT_EQ(load_error("bad_missing_collect"),
              kTestPlugins +
                  "/bad_missing_collect.so: plugin 'bad_missing_collect' lacks required "
                  "callback(s): collect");
}

TEST(Loader, ATooShortDescriptorIsRefused) {
    EXPECT_EQ(load_error("bad_short"),
              kTestPlugins +
                  "/bad_short.so: descriptor is too short (16 bytes, ABI 1.0 needs "
                  "at least " +
                  std::to_string(kMinDescriptorSize) + ")");
}

TEST(Loader, UnknownPluginNamesTheFoldersSearched) {
    PluginCatalog catalog({kTestPlugins, "/nowhere"});
    try {
        catalog.load("nope");
        FAIL();
    } catch (const PluginLoadError& e) {
        EXPECT_EQ(std::string(e.what()),
                  "unknown plugin 'nope': no nope.so in " + kTestPlugins + ", /nowhere");
    }
}

TEST(Loader, APathIsNotAPluginName) {
    EXPECT_EQ(load_error("../etc/evil"),
              "plugin name '../etc/evil' must be a plain name such as proc_cpu, not a path");
}

TEST(Loader, ALibraryIsLoadedOnceAndSharedByItsInstances) {
    PluginCatalog catalog({kTestPlugins});
    auto first = catalog.load("test_counter");
    auto second = catalog.load("test_counter");
    EXPECT_EQ(first.get(), second.get());
    EXPECT_EQ(first->version(), "1.0.0");
    EXPECT_EQ(first->kind(), DMON_KIND_COLLECTOR);
}

TEST(Loader, ACreateThatFailsIsReportedWithTheInstance) {
    PluginCatalog catalog({kTestPlugins});
    const auto config =
        parse_config("collectors:\n  - plugin: test_create_fails\n    name: picky\n", "c.yaml");
    auto plan = plan_plugins(config, catalog);
    try {
        PluginInstance instance(plan.collectors[0].library, plan.collectors[0].config,
                                plan.collectors[0].options, "n");
        FAIL();
    } catch (const PluginLoadError& e) {
        EXPECT_EQ(std::string(e.what()),
                  "c.yaml:2:5: collector 'picky' (test_create_fails): create failed: threshold "
                  "must be positive");
    }
}

}  // namespace
}  // namespace dmon::core

namespace dmon::core {
namespace {

// Loads a plugin, creates an instance and returns the names of one round of samples.
std::vector<std::string> one_round(const std::string& plugin) {
    PluginCatalog catalog({kTestPlugins});
    const auto config = parse_config("collectors:\n  - plugin: " + plugin + "\n", "abi.yaml");
    auto plan = plan_plugins(config, catalog);
    PluginInstance instance(plan.collectors[0].library, plan.collectors[0].config,
                            plan.collectors[0].options, "n");
    dmon_emitter emitter;
    emitter.node = "n";
    std::string error;
    EXPECT_EQ(instance.collect(emitter, error), DMON_OK) << error;
    std::vector<std::string> names;
    for (const auto& batch : emitter.batches) {
        std::vector<dmon_sample> samples;
        std::vector<dmon_label> labels;
        labels.reserve(batch->label_count());
        batch->to_c(samples, labels);
        for (const auto& s : samples)
            names.emplace_back(s.name.data, s.name.size);
    }
    return names;
}

TEST(Abi, APluginBuiltAgainstTheFrozen10HeaderLoadsAndWorks) {
    EXPECT_EQ(one_round("abi_frozen"), std::vector<std::string>{"abi.frozen"});
}

TEST(Abi, APluginFromANewerMinorLoadsAndItsExtraFieldsAreIgnored) {
    EXPECT_EQ(one_round("abi_newer_minor"), std::vector<std::string>{"abi.newer"});
}

}  // namespace
}  // namespace dmon::core
