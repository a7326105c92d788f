// The store against real files: exact points, exactly-once by message_id, a full disk,
// retention, cardinality, schema versions, sealing and migration.
#include <dmon/store/store.hpp>

#include "../../store_fixtures.hpp"

#include <gtest/gtest.h>

#include <filesystem>

namespace dmon::store {
namespace {

class StoreTest : public ::testing::Test {
  protected:
    void SetUp() override {
        folder_ = std::filesystem::temp_directory_path() /
                  ("dmon-store-" + std::to_string(::getpid()) + "-" +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(folder_);
        path_ = (folder_ / "nested" / "metrics.db").string();  // the folder is created
    }
    void TearDown() override { std::filesystem::remove_all(folder_); }
    int64_t count(const std::string& sql) {
        Database db(path_, false);
        auto stmt = db.prepare(sql);
        return stmt.step() ? stmt.column_int(0) : -1;
    }
    // Points stored (sealed or not), as `dmonctl stats` counts them.
    int64_t samples() {
        SampleReader reader(path_);
        return reader.stats().samples;
    }
    std::filesystem::path folder_;
    std::string path_;
};

TEST_F(StoreTest, StoresSamplesWithTheirSeries) {
    SampleWriter writer({path_, std::chrono::nanoseconds(0), false});
    test::BatchBuilder batch;
    batch.add("system.cpu.utilization", {{"host", "web1"}, {"cpu", "total"}}, 0.25, 1000)
        .add("system.cpu.utilization", {{"host", "web1"}, {"cpu", "total"}}, 0.5, 2000)
        .add("system.disk.io", {{"host", "web2"}, {"device", "sda"}, {"direction", "read"}}, 4096,
             1000, DMON_COUNTER);
    const auto result = writer.write(batch.build());
    EXPECT_EQ(result.stored, 3u);
    SampleReader reader(path_);
    EXPECT_EQ(reader.hosts(), (std::vector<std::string>{"web1", "web2"}));
    const auto rows = reader.query("system.cpu.utilization", std::nullopt, {0}, false);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].host, "web1");
    EXPECT_EQ(rows[0].labels, "cpu=total");
    EXPECT_EQ(rows[0].type, "gauge");
    EXPECT_EQ(rows[0].timestamp_ns, 1000);
    EXPECT_EQ(rows[1].value, 0.5);
    EXPECT_EQ(count("SELECT count(*) FROM series"), 2);
    const auto disk = reader.latest(std::string("web2"));
    ASSERT_EQ(disk.size(), 1u);
    EXPECT_EQ(disk[0].labels, "device=sda,direction=read");
    EXPECT_EQ(disk[0].type, "counter");
}

TEST_F(StoreTest, ARedeliveredBatchIsStoredOnce) {
    {
        SampleWriter writer({path_, std::chrono::nanoseconds(0), false});
        test::BatchBuilder first;
        first.origin("agent-1:7:1", 2)
            .add("m", {{"host", "a"}}, 1, 100)
            .add("m", {{"host", "a"}}, 2, 200)
            .origin("agent-1:7:2", 1)
            .add("m", {{"host", "a"}}, 3, 300);
        EXPECT_EQ(writer.write(first.build()).stored, 3u);
    }
    // A new writer (the controller restarted): the ids are in the file, not only in memory.
    SampleWriter writer({path_, std::chrono::nanoseconds(0), false});
    test::BatchBuilder again;
    again.origin("agent-1:7:2", 1)
        .add("m", {{"host", "a"}}, 3, 300)
        .origin("agent-1:7:3", 1)
        .add("m", {{"host", "a"}}, 4, 400);
    const auto result = writer.write(again.build());
    EXPECT_EQ(result.skipped_batches, 1u);
    EXPECT_EQ(result.stored, 1u);
    EXPECT_EQ(samples(), 4);
    EXPECT_EQ(count("SELECT count(*) FROM batches"), 3);
}

TEST_F(StoreTest, AFullDiskIsReportedAndTheBatchLeavesNoTrace) {
    SampleWriter writer({path_, std::chrono::nanoseconds(0), false});
    test::BatchBuilder small;
    small.origin("m-1", 1).add("m", {{"host", "a"}}, 1, 1);
    writer.write(small.build());
    const int64_t pages = count("PRAGMA page_count");
    writer.database().exec("PRAGMA max_page_count = " + std::to_string(pages + 1));
    test::BatchBuilder big;
    big.origin("m-2", 5000);
    for (int i = 0; i < 5000; ++i)
        big.add("series." + std::to_string(i), {{"host", "a"}}, i, 10 + i);
    try {
        writer.write(big.build());
        FAIL() << "expected the write to fail";
    } catch (const DatabaseError& e) {
        EXPECT_EQ(std::string(e.what()),
                  path_ + ": writing: database or disk is full (the disk is full)");
    }
    EXPECT_EQ(samples(), 1);
    EXPECT_EQ(count("SELECT count(*) FROM batches"), 1);  // m-2 not remembered: a retry stores it
    writer.database().exec("PRAGMA max_page_count = 1073741823");
    EXPECT_EQ(writer.write(big.build()).stored, 5000u);  // series cache was rolled back too
    EXPECT_EQ(samples(), 5001);
}

// Retention drops whole chunks: here chunks of 2 points, so [10 h, 11 h] goes and [12 h] stays.
TEST_F(StoreTest, RetentionRemovesOldSamplesAndMessageIds) {
    SampleWriter::Settings settings{path_, std::chrono::hours(1), false};
    settings.chunk_samples = 2;
    SampleWriter writer(settings);
    const int64_t hour = 3'600'000'000'000;
    test::BatchBuilder batch;
    batch.add("m", {{"host", "a"}}, 1, 10 * hour)
        .add("m", {{"host", "a"}}, 2, 11 * hour)
        .add("m", {{"host", "a"}}, 3, 12 * hour);
    writer.write(batch.build());
    EXPECT_EQ(writer.apply_retention(12 * hour + 1), 2);
    EXPECT_EQ(samples(), 1);
}

// Retention takes the series that have no samples left, so a host that stopped reporting does
// not hold its share of the cardinality limits forever.
TEST_F(StoreTest, RetentionRemovesSeriesWithoutSamples) {
    SampleWriter writer({path_, std::chrono::hours(1), false});
    const int64_t hour = 3'600'000'000'000;
    test::BatchBuilder batch;
    batch.add("m", {{"host", "gone"}}, 1, 10 * hour).add("m", {{"host", "here"}}, 2, 12 * hour);
    writer.write(batch.build());
    EXPECT_EQ(writer.apply_retention(12 * hour + 1), 1);
    EXPECT_EQ(count("SELECT count(*) FROM series"), 1);
    EXPECT_EQ(count("SELECT count(*) FROM series WHERE host = 'here'"), 1);
    EXPECT_EQ(writer.series_count(), 1);
}

// 100 hosts' worth of series from one sender: past max_series_per_host new series are refused
// and counted, the existing ones keep flowing, and another host is not affected.
TEST_F(StoreTest, NewSeriesPastTheLimitsAreRefusedExistingOnesFlow) {
    SampleWriter::Settings settings{path_, std::chrono::nanoseconds(0), false};
    settings.max_series_per_host = 100;
    settings.max_series = 150;
    settings.series_cache = 10;  // smaller than the series: the cache stays bounded
    SampleWriter writer(settings);
    test::BatchBuilder flood;
    for (int i = 0; i < 1000; ++i)
        flood.add("m", {{"host", "noisy"}, {"id", std::to_string(i)}}, i, 1000);
    auto result = writer.write(flood.build());
    EXPECT_EQ(result.stored, 100u);
    EXPECT_EQ(result.refused_per_host, 900u);
    EXPECT_EQ(result.refused_host, "noisy");
    EXPECT_LE(writer.cached_series(), 20u);  // two generations of 10

    test::BatchBuilder next;
    next.add("m", {{"host", "noisy"}, {"id", "5"}}, 1, 2000)    // existing: stored
        .add("m", {{"host", "noisy"}, {"id", "500"}}, 1, 2000)  // new: refused
        .add("m", {{"host", "quiet"}, {"id", "1"}}, 1, 2000);   // another host: stored
    result = writer.write(next.build());
    EXPECT_EQ(result.stored, 2u);
    EXPECT_EQ(result.refused_per_host, 1u);

    test::BatchBuilder many;  // the store-wide limit: 101 series now, 150 at most
    for (int i = 0; i < 60; ++i)
        many.add("m", {{"host", "h" + std::to_string(i)}}, 1, 3000);
    result = writer.write(many.build());
    EXPECT_EQ(result.stored, 49u);
    EXPECT_EQ(result.refused_total, 11u);
    EXPECT_EQ(count("SELECT count(*) FROM series"), 150);
    // A new writer (a restart) counts what is on disk.
    SampleWriter again(settings);
    test::BatchBuilder one;
    one.add("m", {{"host", "quiet"}, {"id", "2"}}, 1, 4000);
    EXPECT_EQ(again.write(one.build()).refused_total, 1u);
}

TEST_F(StoreTest, AnotherSchemaVersionIsRefused) {
    { SampleWriter writer({path_, std::chrono::nanoseconds(0), false}); }
    {
        Database db(path_, false);
        db.exec("UPDATE meta SET value = '99' WHERE key = 'schema_version'");
    }
    try {
        SampleReader reader(path_);
        FAIL();
    } catch (const DatabaseError& e) {
        EXPECT_EQ(
            std::string(e.what()),
            path_ + ": schema version 99, this dmon reads version 2 (written by a newer dmon)");
    }
}

TEST_F(StoreTest, ReadingAFileThatIsNotThereSaysSo) {
    try {
        SampleReader reader(path_);
        FAIL();
    } catch (const DatabaseError& e) {
        EXPECT_EQ(std::string(e.what()),
                  path_ + ": cannot open the database: unable to open database file");
    }
}

}  // namespace
}  // namespace dmon::store
