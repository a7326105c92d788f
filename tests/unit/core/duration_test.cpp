#include "dmon/core/duration.hpp"
#include "dmon/core/text.hpp"

#include <gtest/gtest.h>

namespace dmon::core {
namespace {
using namespace std::chrono_literals;

TEST(Duration, ParsesUnits) {
    EXPECT_EQ(parse_duration("250ms"), std::chrono::nanoseconds(250ms));
    EXPECT_EQ(parse_duration("10s"), std::chrono::nanoseconds(10s));
    EXPECT_EQ(parse_duration("10"), std::chrono::nanoseconds(10s));
    EXPECT_EQ(parse_duration("1.5s"), std::chrono::nanoseconds(1500ms));
    EXPECT_EQ(parse_duration("5m"), std::chrono::nanoseconds(5min));
    EXPECT_EQ(parse_duration("2h"), std::chrono::nanoseconds(2h));
    EXPECT_EQ(parse_duration("7d"), std::chrono::nanoseconds(168h));
    EXPECT_EQ(parse_duration("100us"), std::chrono::nanoseconds(100us));
}

TEST(Duration, RefusesNonsense) {
    for (const char* bad : {"", "s", "10x", "-1s", "0", "0s", "ten", "1e30d", "nan"}) {
        EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
    }
}

TEST(Duration, FormatsShortest) {
    EXPECT_EQ(format_duration(1500ms), "1500ms");
    EXPECT_EQ(format_duration(60s), "1m");
    EXPECT_EQ(format_duration(168h), "7d");
    EXPECT_EQ(format_duration(std::chrono::nanoseconds(7)), "7ns");
}

}  // namespace
}  // namespace dmon::core

// Moments people type (dmonctl --from, the API's from=): UTC, seconds and fraction optional.
TEST(TimeTest, ParsesUtcMomentsAndRefusesTheRest) {
    using dmon::core::parse_time_utc;
    EXPECT_EQ(parse_time_utc("2024-11-24T17:20:00Z"), 1732468800000000000);
    EXPECT_EQ(parse_time_utc("2024-11-24T17:20"), 1732468800000000000);
    EXPECT_EQ(parse_time_utc("2024-11-24T17:20:02.5Z"), 1732468802500000000);
    EXPECT_EQ(parse_time_utc("1970-01-01T00:00:00.000000001Z"), 1);
    EXPECT_EQ(parse_time_utc("2000-02-29T00:00:00Z"), 951782400000000000);
    for (const char* bad : {"", "yesterday", "2024-13-01T00:00Z", "2024-11-24",
                            "2024-11-24T17:20:00+01:00", "2024-11-24T17:20:00.Z",
                            "2024-11-24T24:00Z", "2024-11-24T17:20:0Z", "4048-11-24T17:20:00Z"})
        EXPECT_EQ(parse_time_utc(bad), std::nullopt) << bad;
}
