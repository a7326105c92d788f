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

namespace {
using dmon::line_protocol::OwnedSample;
using dmon::line_protocol::parse_message;

TEST(LineProtocolParse, ReadsBackWhatTheEncoderWrites) {
    const dmon_label labels[] = {{s("host"), s("web 1")}, {s("dev,ice"), s("a=b")}};
    dmon_sample sample{s("system.disk.io"), labels,      2, 1400632320.5,
                       1732468800000000001, DMON_COUNTER};
    std::string text;
    dmon::line_protocol::append_sample(text, sample);
    std::vector<OwnedSample> parsed;
    ASSERT_EQ(parse_message(text, 0, parsed), "");
    ASSERT_EQ(parsed.size(), 1u);
    EXPECT_EQ(parsed[0].name, "system.disk.io");
    EXPECT_EQ(parsed[0].labels, (std::vector<std::pair<std::string, std::string>>{
                                    {"host", "web 1"}, {"dev,ice", "a=b"}}));
    EXPECT_EQ(parsed[0].value, 1400632320.5);
    EXPECT_EQ(parsed[0].timestamp_ns, 1732468800000000001);
    EXPECT_EQ(parsed[0].type, DMON_COUNTER);
}

TEST(LineProtocolParse, AnotherProducersFieldsBecomeMeasurementDotField) {
    std::vector<OwnedSample> parsed;
    ASSERT_EQ(
        parse_message("cpu,host=x,cpu=cpu-total usage_user=1.5,usage_system=0.5,count=3i,up=true,"
                      "note=\"a, b\" 1732468800000000000\n",
                      0, parsed),
        "");
    ASSERT_EQ(parsed.size(), 4u);
    EXPECT_EQ(parsed[0].name, "cpu.usage_user");
    EXPECT_EQ(parsed[0].value, 1.5);
    EXPECT_EQ(parsed[0].type, DMON_GAUGE);
    EXPECT_EQ(parsed[1].name, "cpu.usage_system");
    EXPECT_EQ(parsed[1].value, 0.5);
    EXPECT_EQ(parsed[2].name, "cpu.count");
    EXPECT_EQ(parsed[2].value, 3);
    EXPECT_EQ(parsed[3].name, "cpu.up");
    EXPECT_EQ(parsed[3].value, 1);
    EXPECT_EQ(parsed[0].labels, (std::vector<std::pair<std::string, std::string>>{
                                    {"host", "x"}, {"cpu", "cpu-total"}}));
}

TEST(LineProtocolParse, MissingTimestampTakesTheDefault) {
    std::vector<OwnedSample> parsed;
    ASSERT_EQ(parse_message("\n# comment\nm gauge=1\n", 42, parsed), "");
    ASSERT_EQ(parsed.size(), 1u);
    EXPECT_EQ(parsed[0].timestamp_ns, 42);
}

TEST(LineProtocolParse, BadLinesAreNamedAndNothingIsKept) {
    std::vector<OwnedSample> parsed;
    EXPECT_EQ(parse_message("ok gauge=1 1\nsystem.cpu.time,host=a,cpu=tot", 0, parsed),
              "line 2: no fields (a line needs 'measurement field=value')");
    EXPECT_TRUE(parsed.empty());
    EXPECT_EQ(parse_message("x gauge=abc 1", 0, parsed),
              "line 1: field 'gauge': 'abc' is not a number");
    EXPECT_EQ(parse_message("x gauge=1 12ab", 0, parsed),
              "line 1: timestamp '12ab' is not a whole number of nanoseconds");
    EXPECT_EQ(parse_message("x,host gauge=1", 0, parsed), "line 1: tag without '=value'");
    EXPECT_EQ(parse_message("\x01\x02\xff\xfe", 0, parsed),
              "line 1: no fields (a line needs 'measurement field=value')");
    EXPECT_EQ(parse_message("x s=\"open", 0, parsed),
              "line 1: field 's' has an unterminated string");
}
}  // namespace
