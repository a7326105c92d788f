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
using dmon::line_protocol::Limits;
using dmon::line_protocol::parse_message;
using dmon::line_protocol::ParsedMessage;

// "reason: detail", or "" when the message was accepted.
std::string parse(std::string_view text, ParsedMessage& out, int64_t default_ts = 0,
                  const Limits& limits = {}) {
    const auto rejection = parse_message(text, default_ts, out, limits);
    return rejection ? rejection.reason + ": " + rejection.detail : "";
}

using Labels = std::vector<std::pair<std::string, std::string>>;

TEST(LineProtocolParse, ReadsBackWhatTheEncoderWrites) {
    const dmon_label labels[] = {{s("host"), s("web 1")}, {s("dev,ice"), s("a=b")}};
    dmon_sample sample{s("system.disk.io"), labels,      2, 1400632320.5,
                       1732468800000000001, DMON_COUNTER};
    std::string text;
    dmon::line_protocol::append_sample(text, sample);
    ParsedMessage parsed;
    ASSERT_EQ(parse(text, parsed), "");
    ASSERT_EQ(parsed.samples.size(), 1u);
    EXPECT_EQ(parsed.samples[0].name, "system.disk.io");
    EXPECT_EQ(parsed.labels(parsed.samples[0]), (Labels{{"host", "web 1"}, {"dev,ice", "a=b"}}));
    EXPECT_EQ(parsed.samples[0].value, 1400632320.5);
    EXPECT_EQ(parsed.samples[0].timestamp_ns, 1732468800000000001);
    EXPECT_EQ(parsed.samples[0].type, DMON_COUNTER);
}

// Found by the fuzzer's round trip and reported in issue 9: a name starting with '#' was
// written unescaped and read back as a comment, so the sample vanished on the next hop.
TEST(LineProtocolParse, ANameStartingWithHashSurvivesTheNextHop) {
    dmon_sample sample{s("#queue.depth"), nullptr, 0, 3, 9, DMON_GAUGE};
    std::string text;
    ASSERT_TRUE(dmon::line_protocol::append_sample(text, sample));
    EXPECT_EQ(text, "\\#queue.depth gauge=3 9\n");
    ParsedMessage parsed;
    ASSERT_EQ(parse(text, parsed), "");
    ASSERT_EQ(parsed.samples.size(), 1u);
    EXPECT_EQ(parsed.samples[0].name, "#queue.depth");
}

TEST(LineProtocolParse, AnotherProducersFieldsBecomeMeasurementDotField) {
    ParsedMessage parsed;
    ASSERT_EQ(parse("cpu,host=x,cpu=cpu-total usage_user=1.5,usage_system=0.5,count=3i,up=true,"
                    "note=\"a, b\" 1732468800000000000\n",
                    parsed),
              "");
    ASSERT_EQ(parsed.samples.size(), 4u);
    EXPECT_EQ(parsed.samples[0].name, "cpu.usage_user");
    EXPECT_EQ(parsed.samples[0].value, 1.5);
    EXPECT_EQ(parsed.samples[0].type, DMON_GAUGE);
    EXPECT_EQ(parsed.samples[1].name, "cpu.usage_system");
    EXPECT_EQ(parsed.samples[1].value, 0.5);
    EXPECT_EQ(parsed.samples[2].name, "cpu.count");
    EXPECT_EQ(parsed.samples[2].value, 3);
    EXPECT_EQ(parsed.samples[3].name, "cpu.up");
    EXPECT_EQ(parsed.samples[3].value, 1);
    // The four samples share the line's one label set.
    ASSERT_EQ(parsed.label_sets.size(), 1u);
    EXPECT_EQ(parsed.labels(parsed.samples[3]), (Labels{{"host", "x"}, {"cpu", "cpu-total"}}));
}

TEST(LineProtocolParse, MissingTimestampTakesTheDefault) {
    ParsedMessage parsed;
    ASSERT_EQ(parse("\n# comment\nm gauge=1\n", parsed, 42), "");
    ASSERT_EQ(parsed.samples.size(), 1u);
    EXPECT_EQ(parsed.samples[0].timestamp_ns, 42);
}

TEST(LineProtocolParse, BadLinesAreNamedAndNothingIsKept) {
    ParsedMessage parsed;
    EXPECT_EQ(parse("ok gauge=1 1\nsystem.cpu.time,host=a,cpu=tot", parsed),
              "malformed: line 2: no fields (a line needs 'measurement field=value')");
    EXPECT_TRUE(parsed.samples.empty());
    EXPECT_TRUE(parsed.label_sets.empty());
    EXPECT_EQ(parse("x gauge=abc 1", parsed),
              "malformed: line 1: field 'gauge': 'abc' is not a number");
    EXPECT_EQ(parse("x gauge=1 12ab", parsed),
              "malformed: line 1: timestamp '12ab' is not a whole number of nanoseconds");
    EXPECT_EQ(parse("x,host gauge=1", parsed), "malformed: line 1: tag without '=value'");
    EXPECT_EQ(parse("\x01\x02\xff\xfe", parsed),
              "malformed: line 1: no fields (a line needs 'measurement field=value')");
    EXPECT_EQ(parse("x s=\"open", parsed),
              "malformed: line 1: field 's' has an unterminated string");
}

TEST(LineProtocolLimits, EachBoundIsRefusedWithItsReason) {
    ParsedMessage parsed;
    Limits limits;
    limits.max_message_bytes = 20;
    EXPECT_EQ(parse("m gauge=1\nm gauge=2\nm gauge=3\n", parsed, 0, limits),
              "message_too_large: 30 bytes, more than 20");
    limits = {};
    limits.max_line_bytes = 10;
    EXPECT_EQ(parse("m gauge=1\nlong.name gauge=2\n", parsed, 0, limits),
              "line_too_long: line 2: 17 bytes, more than 10");
    limits = {};
    limits.max_labels = 2;
    EXPECT_EQ(parse("m,a=1,b=2 gauge=1\nm,a=1,b=2,c=3 gauge=1\n", parsed, 0, limits),
              "too_many_labels: line 2: more than 2 tags");
    limits = {};
    limits.max_fields = 2;
    EXPECT_EQ(parse("m a=1,b=2,c=3", parsed, 0, limits),
              "too_many_fields: line 1: more than 2 fields");
    limits = {};
    limits.max_name_bytes = 4;
    EXPECT_EQ(parse("abcde gauge=1", parsed, 0, limits),
              "name_too_long: line 1: name 'abcde' has 5 bytes, more than 4");
    EXPECT_EQ(parse("ab cd=1", parsed, 0, limits),
              "name_too_long: line 1: name 'ab.cd' is longer than 4 bytes");
    limits = {};
    limits.max_label_value_bytes = 3;
    EXPECT_EQ(parse("m,k=abcd gauge=1", parsed, 0, limits),
              "label_too_long: line 1: tag 'k' is longer than 128=3 bytes");
    EXPECT_TRUE(parsed.samples.empty());
}

TEST(LineProtocolLimits, DuplicateTagsAndNonFiniteValuesAreRefused) {
    ParsedMessage parsed;
    EXPECT_EQ(parse("m,host=a,cpu=1,host=b gauge=1", parsed),
              "duplicate_label: line 1: tag 'host' appears twice");
    EXPECT_EQ(parse("m gauge=NaN", parsed),
              "not_finite: line 1: field 'gauge' is 'NaN' (NaN and infinity are refused)");
    EXPECT_EQ(parse("m x=1,y=inf", parsed),
              "not_finite: line 1: field 'y' is 'inf' (NaN and infinity are refused)");
    EXPECT_EQ(parse("m x=-infinity", parsed),
              "not_finite: line 1: field 'x' is '-infinity' (NaN and infinity are refused)");
}

TEST(LineProtocolLimits, TimestampsOutsideTheWindowAreRefused) {
    ParsedMessage parsed;
    Limits limits;
    limits.oldest_ns = 100;
    limits.newest_ns = 200;
    EXPECT_EQ(parse("m gauge=1 150\nm gauge=1 99\n", parsed, 150, limits),
              "timestamp_too_old: line 2: timestamp 99 is older than the oldest accepted, 100");
    EXPECT_EQ(parse("m gauge=1 201\n", parsed, 150, limits),
              "timestamp_in_future: line 1: timestamp 201 is later than the newest accepted, 200");
    // A line without a timestamp takes the default, which is checked too.
    EXPECT_EQ(parse("m gauge=1\n", parsed, 250, limits),
              "timestamp_in_future: line 1: timestamp 250 is later than the newest accepted, 200");
    EXPECT_EQ(parse("m gauge=1 100\nm gauge=2 200\n", parsed, 150, limits), "");
    EXPECT_EQ(parsed.samples.size(), 2u);
}

// The message of issue 9: T tags x F fields became F samples of T labels each (1 GB from 35
// KiB). Within the label limit, many fields under long tags still multiply: refused by the
// expansion bound, and the parser never holds more than that bound.
TEST(LineProtocolLimits, AMultiplyingMessageIsRefusedBeforeItGrows) {
    ParsedMessage parsed;
    std::string line = "m";
    for (int t = 0; t < 2500; ++t)
        line += ",t" + std::to_string(t) + "=v";
    line += " ";
    for (int f = 0; f < 2500; ++f)
        line += (f ? ",f" : "f") + std::to_string(f) + "=1";
    EXPECT_EQ(parse(line, parsed), "too_many_labels: line 1: more than 32 tags");

    std::string wide = "m";
    for (int t = 0; t < 32; ++t)
        wide += ",tag" + std::to_string(t) + "=" + std::string(1000, 'v');
    wide += " ";
    for (int f = 0; f < 64; ++f)
        wide += (f ? ",f" : "f") + std::to_string(f) + "=1";
    wide += "\n";
    std::string message;
    while (message.size() < 500'000)
        message += wide;
    EXPECT_EQ(parse(message, parsed),
              "amplification: line 4: the samples would take more than 16 times the message's "
              "size (many tags x many fields)");
    EXPECT_TRUE(parsed.samples.empty());
}
}  // namespace
