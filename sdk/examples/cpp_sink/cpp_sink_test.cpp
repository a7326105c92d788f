// cpp_sink's test, with the SDK's harness: a batch written becomes line protocol in the file,
// and check mode refuses a missing folder without creating anything.
#include <dmon/testing.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

TEST(CppSink, AppendsEachBatchAsLineProtocol) {
    const fs::path file = fs::temp_directory_path() / "cpp_sink_test.lp";
    fs::remove(file);
    {
        dmon::testing::Plugin plugin(PLUGIN_FILE);
        auto sink = plugin.create({{"path", file.string()}});
        ASSERT_TRUE(sink.created()) << sink.error();
        ASSERT_EQ(sink.write({{"disk.free", {{"host", "h1"}, {"mount", "/"}}, 42, 1000}}), DMON_OK)
            << sink.error();
    }
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str(), "disk.free,host=h1,mount=/ gauge=42 1000\n");
    fs::remove(file);
}

TEST(CppSink, CheckModeRefusesAMissingFolderAndCreatesNothing) {
    const fs::path missing = fs::temp_directory_path() / "cpp_sink_test_no_such_folder";
    dmon::testing::Plugin plugin(PLUGIN_FILE);
    auto checked = plugin.check({{"path", (missing / "out.lp").string()}});
    EXPECT_EQ(checked.create_status(), DMON_INVALID);
    EXPECT_NE(checked.error().find("does not exist"), std::string::npos) << checked.error();
    EXPECT_FALSE(fs::exists(missing));
}
