// The PostgreSQL store's pure parts: day partitions, what is logged of a conninfo, and which
// names are taken. The store against a real server: tests/scaling.
#include <dmon/store/postgres.hpp>

#include <gtest/gtest.h>

namespace dmon::store::pg {
namespace {

constexpr int64_t kDay = 86'400'000'000'000;

TEST(PostgresStore, PartitionsAreUtcDays) {
    // 2026-12-06T17:44:31Z
    const int64_t ts = 1'796'579'071'000'000'000;
    EXPECT_EQ(day_start_ns(ts), 1'796'515'200'000'000'000);
    EXPECT_EQ(day_name(day_start_ns(ts)), "20261206");
    EXPECT_EQ(day_name(day_start_ns(ts) + kDay), "20261207");
    EXPECT_EQ(day_start_ns(0), 0);
    EXPECT_EQ(day_name(0), "19700101");
    // Before the epoch a day still starts at its midnight, not at the next one.
    EXPECT_EQ(day_start_ns(-1), -kDay);
    EXPECT_EQ(day_name(-kDay), "19691231");
    EXPECT_EQ(day_name(day_start_ns(951'782'400'000'000'000)), "20000229");  // a leap day
}

TEST(PostgresStore, WhatIsLoggedOfAServerHasNoPassword) {
    EXPECT_EQ(describe("postgresql://dmon:secret@db.example:5433/metrics"),
              "dmon@db.example:5433/metrics");
    EXPECT_EQ(describe("host=10.0.0.5 user=dmon password=secret dbname=m"), "dmon@10.0.0.5/m");
    EXPECT_EQ(describe("postgresql:///m"), "localhost/m");
    EXPECT_EQ(describe("postgresql://h/d?nonsense=1"), "?");
    EXPECT_EQ(describe("this is not = valid ="), "?");
}

TEST(PostgresStore, DbNamesAndSchemaNames) {
    EXPECT_TRUE(is_postgres_uri("postgresql://u@h/d"));
    EXPECT_TRUE(is_postgres_uri("postgres://u@h/d"));
    EXPECT_FALSE(is_postgres_uri("/var/lib/dmon/metrics.db"));
    EXPECT_FALSE(is_postgres_uri("postgresql.db"));
    EXPECT_TRUE(valid_schema_name("dmon"));
    EXPECT_TRUE(valid_schema_name("dmon_2"));
    EXPECT_FALSE(valid_schema_name(""));
    EXPECT_FALSE(valid_schema_name("2dmon"));
    EXPECT_FALSE(valid_schema_name("Dmon"));
    EXPECT_FALSE(valid_schema_name("dmon; DROP TABLE x"));
    EXPECT_FALSE(valid_schema_name(std::string(64, 'a')));
}

}  // namespace
}  // namespace dmon::store::pg
