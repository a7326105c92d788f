// dmon::testing (sdk/include/dmon/testing.hpp), the harness plugin authors test with, against
// real plugin files: options typed by the plugin's declarations, emitted samples, refusals,
// create failures, a sink's write and its check mode.
#include "test_support.hpp"

#include <dmon/testing.hpp>

#include <gtest/gtest.h>

namespace dmon::test {
namespace {

const std::string kTestPlugins = DMON_TEST_PLUGIN_DIR;
const std::string kPlugins = DMON_PLUGIN_DIR;

TEST(Harness, CollectsWhatACollectorEmitsRoundByRound) {
    dmon::testing::Plugin plugin(kTestPlugins + "/test_counter.so");
    auto counter = plugin.create({{"metric", "my.rounds"}});
    ASSERT_TRUE(counter.created()) << counter.error();
    ASSERT_EQ(counter.collect(), DMON_OK);
    ASSERT_EQ(counter.collect(), DMON_OK);
    ASSERT_EQ(counter.emitted().size(), 1u);
    EXPECT_EQ(counter.emitted()[0].name, "my.rounds");
    EXPECT_EQ(counter.emitted()[0].value, 2);
    EXPECT_EQ(counter.emitted()[0].type, DMON_COUNTER);
    // The declared default applies when the option is not given.
    auto defaults = plugin.create();
    ASSERT_EQ(defaults.collect(), DMON_OK);
    EXPECT_EQ(defaults.emitted().at(0).name, "test.rounds");
}

TEST(Harness, RefusesOptionsTheHostWouldRefuse) {
    dmon::testing::Plugin plugin(kTestPlugins + "/test_counter.so");
    EXPECT_THROW(plugin.create({{"metrics", "x"}}), std::invalid_argument);
    dmon::testing::Plugin fails(kTestPlugins + "/test_create_fails.so");
    EXPECT_THROW(fails.create({{"threshold", "ten"}}), std::invalid_argument);
    auto refused = fails.create({{"threshold", "-1"}});
    EXPECT_FALSE(refused.created());
    EXPECT_EQ(refused.create_status(), DMON_INVALID);
    EXPECT_EQ(refused.error(), "threshold must be positive");
}

TEST(Harness, CountsSamplesTheHostWouldRefuse) {
    dmon::testing::Plugin plugin(kTestPlugins + "/test_nan.so");
    auto nan = plugin.create();
    ASSERT_EQ(nan.collect(), DMON_OK);
    ASSERT_EQ(nan.emitted().size(), 1u);
    EXPECT_EQ(nan.emitted()[0].name, "test.alive");
    EXPECT_EQ(nan.refused(), 2u);
    dmon::testing::Plugin invalid(kTestPlugins + "/test_invalid.so");
    auto round = invalid.create();
    EXPECT_EQ(round.collect(), DMON_INVALID);
    EXPECT_EQ(round.error(), "input line 7 is not a number");
}

TEST(Harness, WritesABatchThroughASinkAndChecksIt) {
    TempFolder folder;
    dmon::testing::Plugin plugin(kPlugins + "/stdout.so");
    {
        auto sink = plugin.create({{"path", folder.path("out.lp")}});
        ASSERT_TRUE(sink.created()) << sink.error();
        ASSERT_EQ(sink.write({{"a.b", {{"host", "h1"}, {"k", "v"}}, 1.5, 1000, DMON_GAUGE}}),
                  DMON_OK)
            << sink.error();
    }
    EXPECT_EQ(read_text(folder.path("out.lp")), "a.b,host=h1,k=v gauge=1.5 1000\n");
    auto checked = plugin.check({{"path", folder.path("missing/out.lp")}});
    EXPECT_EQ(checked.create_status(), DMON_INVALID);
    EXPECT_NE(checked.error().find("folder " + folder.path("missing") + " does not exist"),
              std::string::npos)
        << checked.error();
}

}  // namespace
}  // namespace dmon::test
