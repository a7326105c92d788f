#include <dmon/line_protocol.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace {

dmon_str s(const char* text) {
    return dmon_str{text, std::char_traits<char>::length(text)};
}

TEST(LineProtocol, EncodesNameLabelsTypeAndTimestamp) {
    const dmon_label labels[] = {{s("host"), s("web1")}, {s("cpu"), s("total")}};
    dmon_sample sample{s("system.cpu.utilization"), labels,    2, 0.231,
                       1732468800000000000,         DMON_GAUGE};
    std::string out;
    ASSERT_TRUE(dmon::line_protocol::append_sample(out, sample));
    EXPECT_EQ(out, "system.cpu.utilization,host=web1,cpu=total gauge=0.231 1732468800000000000\n");
}

TEST(LineProtocol, CountersAndIntegralValues) {
    dmon_sample sample{s("system.disk.io"), nullptr, 0, 1400632320, 5, DMON_COUNTER};
    std::string out;
    ASSERT_TRUE(dmon::line_protocol::append_sample(out, sample));
    EXPECT_EQ(out, "system.disk.io counter=1400632320 5\n");
}

TEST(LineProtocol, EscapesSpecialCharacters) {
    const dmon_label labels[] = {{s("dev ice"), s("a,b=c")}, {s("empty"), s("")}};
    dmon_sample sample{s("my metric,x"), labels, 2, -1.5, 7, DMON_GAUGE};
    std::string out;
    ASSERT_TRUE(dmon::line_protocol::append_sample(out, sample));
    EXPECT_EQ(out, "my\\ metric\\,x,dev\\ ice=a\\,b\\=c gauge=-1.5 7\n");
}

TEST(LineProtocol, RefusesValuesItCannotCarry) {
    std::string out;
    dmon_sample nan_sample{s("x"), nullptr, 0, std::nan(""), 1, DMON_GAUGE};
    dmon_sample inf_sample{s("x"), nullptr, 0, INFINITY, 1, DMON_GAUGE};
    dmon_sample no_name{s(""), nullptr, 0, 1, 1, DMON_GAUGE};
    EXPECT_FALSE(dmon::line_protocol::append_sample(out, nan_sample));
    EXPECT_FALSE(dmon::line_protocol::append_sample(out, inf_sample));
    EXPECT_FALSE(dmon::line_protocol::append_sample(out, no_name));
    EXPECT_EQ(out, "");
}

}  // namespace
