// hello_collector's test, with the SDK's harness: load the built plugin, create it with
// options, run rounds, and look at what it emitted and logged.
#include <dmon/testing.hpp>

#include <gtest/gtest.h>

TEST(HelloCollector, CountsItsRoundsUnderItsGreeting) {
    dmon::testing::Plugin plugin(PLUGIN_FILE);
    auto hello = plugin.create({{"greeting", "hi"}});
    ASSERT_TRUE(hello.created()) << hello.error();
    ASSERT_EQ(hello.collect(), DMON_OK) << hello.error();
    ASSERT_EQ(hello.collect(), DMON_OK) << hello.error();
    ASSERT_EQ(hello.emitted().size(), 1u);
    EXPECT_EQ(hello.emitted()[0].name, "hello.rounds");
    EXPECT_EQ(hello.emitted()[0].labels.at("greeting"), "hi");
    EXPECT_EQ(hello.emitted()[0].value, 2);
    ASSERT_FALSE(hello.log().empty());
    EXPECT_EQ(hello.log()[0].text, "ready to greet with 'hi'");
}

TEST(HelloCollector, TakesOnlyTheOptionsItDeclares) {
    dmon::testing::Plugin plugin(PLUGIN_FILE);
    EXPECT_THROW(plugin.create({{"greting", "hi"}}), std::invalid_argument);
}
