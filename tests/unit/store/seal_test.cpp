// Head -> chunks: reads answer the same before and after sealing; late and duplicate points;
// a SIGKILL between any two steps of a seal loses and doubles nothing; exactly once across a
// writer killed while sealing; migration of a schema 1 file; the frozen series key.
#include <dmon/store/store.hpp>

#include "../../store_fixtures.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <atomic>
#include <random>
#include <thread>

#ifndef _WIN32
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace dmon::store {
namespace {

constexpr int64_t kT0 = 1'790'000'000'000'000'000;
constexpr int64_t kSecond = 1'000'000'000;

class SealTest : public ::testing::Test {
  protected:
    void SetUp() override {
        folder_ = std::filesystem::temp_directory_path() /
                  ("dmon-seal-" + std::to_string(::getpid()) + "-" +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(folder_);
        std::filesystem::create_directories(folder_);
        path_ = (folder_ / "metrics.db").string();
    }
    void TearDown() override { std::filesystem::remove_all(folder_); }

    SampleWriter::Settings settings(uint32_t chunk_samples = 64) {
        SampleWriter::Settings s{path_, std::chrono::nanoseconds(0), false};
        s.chunk_samples = chunk_samples;
        return s;
    }
    // Every point of every series, as "host name labels ts value" lines (exact values).
    std::vector<std::string> everything() {
        SampleReader reader(path_);
        std::vector<std::string> out;
        for (const auto& row : reader.query("", std::nullopt, {}, false)) {
            char value[40];
            std::snprintf(value, sizeof(value), "%a", row.value);
            out.push_back(row.host + " " + row.name + " " + row.labels + " " +
                          std::to_string(row.timestamp_ns) + " " + value);
        }
        return out;
    }
    int64_t query_int(const std::string& sql) {
        Database db(path_, false);
        auto stmt = db.prepare(sql);
        return stmt.step() ? stmt.column_int(0) : -1;
    }
    // No two chunks of a series overlap, open chunks included.
    void expect_no_overlaps() {
        Database db(path_, false);
        auto stmt = db.prepare(
            "SELECT count(*) FROM (SELECT series_id, start_ts, end_ts FROM chunks UNION ALL "
            "SELECT series_id, start_ts, end_ts FROM open_chunks) a JOIN (SELECT series_id, "
            "start_ts, end_ts FROM chunks UNION ALL SELECT series_id, start_ts, end_ts FROM "
            "open_chunks) b ON a.series_id = b.series_id AND a.start_ts < b.start_ts AND "
            "b.start_ts <= a.end_ts");
        ASSERT_TRUE(stmt.step());
        EXPECT_EQ(stmt.column_int(0), 0);
    }
    // `rounds` rounds of 3 series of host `host`, one message id per round.
    void write_rounds(SampleWriter& writer, int first, int rounds, const std::string& host = "a") {
        for (int r = first; r < first + rounds; ++r) {
            test::BatchBuilder batch;
            const int64_t ts = kT0 + r * kSecond;
            batch.origin(host + "/" + std::to_string(r), 3)
                .add("system.cpu.time", {{"host", host}, {"state", "user"}}, r * 0.37, ts,
                     DMON_COUNTER)
                .add("system.cpu.utilization", {{"host", host}}, (r % 10) / 7.0, ts)
                .add("system.memory.usage", {{"host", host}, {"state", "used"}}, 1e9 + r * 4096.0,
                     ts);
            writer.write(batch.build());
        }
    }

    std::filesystem::path folder_;
    std::string path_;
};

TEST_F(SealTest, QueriesAnswerTheSameBeforeAndAfterSealing) {
    SampleWriter writer(settings(64));
    write_rounds(writer, 0, 150);
    const auto before = everything();
    ASSERT_EQ(before.size(), 450u);
    EXPECT_EQ(SampleReader(path_).stats().head_samples, 450);
    const SealResult sealed = writer.seal();
    EXPECT_EQ(sealed.head_samples, 450);
    EXPECT_EQ(sealed.stored, 450);
    EXPECT_EQ(sealed.duplicates, 0);
    EXPECT_EQ(sealed.series, 3);
    EXPECT_EQ(everything(), before);
    // 150 points a series in chunks of 64: two closed chunks and one open chunk each.
    EXPECT_EQ(query_int("SELECT count(*) FROM chunks"), 6);
    EXPECT_EQ(query_int("SELECT count(*) FROM open_chunks"), 3);
    EXPECT_EQ(query_int("SELECT count(*) FROM head"), 0);
    // More rounds: half in the head, half sealed onto the open chunks.
    write_rounds(writer, 150, 100);
    writer.seal();
    write_rounds(writer, 250, 10);
    const auto mixed = everything();
    EXPECT_EQ(mixed.size(), 780u);
    writer.seal();
    EXPECT_EQ(everything(), mixed);
    expect_no_overlaps();
    SampleReader reader(path_);
    const StoreStats stats = reader.stats();
    EXPECT_EQ(stats.samples, 780);
    EXPECT_EQ(stats.head_samples, 0);
    EXPECT_EQ(stats.series, 3);
    EXPECT_EQ(*stats.oldest_ns, kT0);
    EXPECT_EQ(*stats.newest_ns, kT0 + 259 * kSecond);
    // The last values come from the last-value table.
    const auto latest = reader.latest(std::nullopt);
    ASSERT_EQ(latest.size(), 3u);
    EXPECT_EQ(latest[2].name, "system.memory.usage");
    EXPECT_EQ(latest[2].timestamp_ns, kT0 + 259 * kSecond);
    EXPECT_EQ(latest[2].value, 1e9 + 259 * 4096.0);
}

TEST_F(SealTest, LateAndDuplicatePointsAreMergedFirstStoredWins) {
    SampleWriter writer(settings(16));
    write_rounds(writer, 0, 100);
    writer.seal();
    // A spool replayed late: points inside closed chunks, inside the open chunk, repeats of
    // stored timestamps (a different value: the stored one stays), and new ones.
    test::BatchBuilder late;
    late.add("system.memory.usage", {{"host", "a"}, {"state", "used"}}, 5, kT0 + 10 * kSecond + 1)
        .add("system.memory.usage", {{"host", "a"}, {"state", "used"}}, 6, kT0 + 97 * kSecond + 1)
        .add("system.memory.usage", {{"host", "a"}, {"state", "used"}}, 7, kT0 + 20 * kSecond)
        .add("system.memory.usage", {{"host", "a"}, {"state", "used"}}, 8, kT0 - kSecond)
        .add("system.memory.usage", {{"host", "a"}, {"state", "used"}}, 9, kT0 + 200 * kSecond)
        .add("system.memory.usage", {{"host", "a"}, {"state", "used"}}, 10, kT0 + 200 * kSecond);
    writer.write(late.build());
    const SealResult sealed = writer.seal();
    EXPECT_EQ(sealed.stored, 4);      // 10 s + 1 ns, 97 s + 1 ns, -1 s, 200 s
    EXPECT_EQ(sealed.duplicates, 2);  // 20 s is stored already; 200 s came twice
    expect_no_overlaps();
    SampleReader reader(path_);
    const auto rows = reader.query("system.memory.usage", std::nullopt, {}, false);
    ASSERT_EQ(rows.size(), 104u);
    EXPECT_EQ(rows.front().timestamp_ns, kT0 - kSecond);
    EXPECT_EQ(rows.front().value, 8);
    std::map<int64_t, double> by_ts;
    for (const auto& row : rows)
        by_ts[row.timestamp_ns] = row.value;
    EXPECT_EQ(by_ts.at(kT0 + 20 * kSecond), 1e9 + 20 * 4096.0);  // the first stored won
    EXPECT_EQ(by_ts.at(kT0 + 10 * kSecond + 1), 5);
    EXPECT_EQ(by_ts.at(kT0 + 200 * kSecond), 9);
    for (size_t i = 1; i < rows.size(); ++i)
        ASSERT_LT(rows[i - 1].timestamp_ns, rows[i].timestamp_ns);
    EXPECT_EQ(reader.latest(std::nullopt)[2].value, 9);
}

TEST_F(SealTest, StepsGiveMinMeanMaxLastPerBucketAndRatesHandleResets) {
    SampleWriter writer(settings(16));
    test::BatchBuilder batch;
    // 0, 10, ..., 170 s: two buckets of a minute each hold 6 points, the third 6.
    const double values[18] = {1, 5, 3, 2, 2, 7, 9, 9, 9, 9, 9, 9, 0, -1, 4, 4, 4, 4};
    for (int i = 0; i < 18; ++i)
        batch.add("g", {{"host", "a"}}, values[i], 1'800'000'000'000'000'000 + i * 10 * kSecond);
    // A counter: +10 per 10 s, reset to 0 at 60 s.
    for (int i = 0; i < 12; ++i) {
        batch.add("c", {{"host", "a"}}, i < 6 ? 100 + i * 10.0 : (i - 6) * 10.0,
                  1'800'000'000'000'000'000 + i * 10 * kSecond, DMON_COUNTER);
    }
    writer.write(batch.build());
    auto check = [&] {
        SampleReader reader(path_);
        const auto steps = reader.query_steps("g", std::nullopt, {}, 60 * kSecond, false);
        ASSERT_EQ(steps.size(), 3u);
        EXPECT_EQ(steps[0].timestamp_ns, 1'800'000'000'000'000'000 - 0);  // a multiple of 60 s
        EXPECT_EQ(steps[0].min, 1);
        EXPECT_EQ(steps[0].max, 7);
        EXPECT_EQ(steps[0].mean, 20.0 / 6);
        EXPECT_EQ(steps[0].last, 7);
        EXPECT_EQ(steps[0].count, 6);
        EXPECT_EQ(steps[2].min, -1);
        EXPECT_EQ(steps[2].last, 4);
        const auto rates = reader.query_steps("c", std::nullopt, {}, 60 * kSecond, true);
        ASSERT_EQ(rates.size(), 2u);
        EXPECT_EQ(rates[0].type, "rate");
        EXPECT_EQ(rates[0].count, 5);  // 10..50 s: the first point has no rate
        EXPECT_EQ(rates[0].mean, 1.0);
        EXPECT_EQ(rates[1].count, 5);  // 60 s is the reset: no rate; 70..110 s
        EXPECT_EQ(rates[1].max, 1.0);
        // A range cuts the points.
        const auto some = reader.query(
            "g", std::nullopt,
            {1'800'000'000'000'000'000 + 30 * kSecond, 1'800'000'000'000'000'000 + 50 * kSecond},
            false);
        ASSERT_EQ(some.size(), 3u);
        EXPECT_EQ(some[0].value, 2);
    };
    check();  // from the head
    writer.seal();
    check();  // from the chunks
}

// A damaged file is refused with where the damage is, not read as something else.
TEST_F(SealTest, ADamagedChunkOrHeadRowIsNamedInTheError) {
    {
        SampleWriter writer(settings(16));
        write_rounds(writer, 0, 20);
        writer.seal();
        write_rounds(writer, 20, 1);
        Database db(path_, false);
        db.exec("UPDATE chunks SET data = substr(data, 1, 12) WHERE series_id = 1");
        db.exec("UPDATE head SET data = substr(data, 1, 5)");
    }
    SampleReader reader(path_);
    try {
        reader.query("system.cpu.time", std::nullopt, {}, false);
        FAIL() << "a damaged head must not be read";
    } catch (const CorruptChunk& e) {
        EXPECT_EQ(std::string(e.what()),
                  path_ + ": head row 1 does not decode: head record ends early");
    }
    Database db(path_, false);
    db.exec("DELETE FROM head");
    try {
        reader.query("system.cpu.time", std::nullopt, {}, false);
        FAIL() << "a damaged chunk must not be read";
    } catch (const CorruptChunk& e) {
        EXPECT_EQ(std::string(e.what()),
                  path_ +
                      ": a chunk of a system.cpu.time state=user (series "
                      "1) does not decode: chunk count 16 beyond its 4 bytes");
    }
}

TEST_F(SealTest, TheSeriesKeyIsTheStoresOwnAndFrozen) {
    const std::vector<dmon_label> labels = {
        {{"cpu", 3}, {"total", 5}},
        {{"host", 4}, {"web 1", 5}},
        {{"path", 4}, {"a,b=c\\d e\nf", 11}},
    };
    dmon_sample sample{{"m", 1}, labels.data(), labels.size(), 1, 1, DMON_GAUGE};
    std::string text;
    std::string_view host;
    series_labels(sample, text, host);
    EXPECT_EQ(host, "web 1");
    EXPECT_EQ(text, "cpu=total,path=a\\,b\\=c\\\\d\\ e\\nf");
}

TEST_F(SealTest, ASchemaOneFileIsMigratedInPlaceWithABackup) {
    // tests/data/store-v1.db was written by the schema 1 writer (commit 27dce41): 300 rounds
    // of 4 series, ts = t0 + round s + (round % 7) us; a counter that resets at round 200.
    std::filesystem::copy_file(std::string(DMON_TEST_DATA_DIR) + "/store-v1.db", path_);
    try {
        SampleReader reader(path_);
        FAIL() << "a reader must not read schema 1";
    } catch (const DatabaseError& e) {
        EXPECT_NE(std::string(e.what()).find("dmonctl migrate --db"), std::string::npos)
            << e.what();
    }
    std::vector<std::string> progress;
    auto s = settings(128);
    s.progress = [&](const std::string& line) { progress.push_back(line); };
    {
        SampleWriter writer(s);
        EXPECT_NE(writer.migration_report().find("migrated 1200 samples of 4 series"),
                  std::string::npos)
            << writer.migration_report();
        // The same labels find the same series: nothing new is created.
        test::BatchBuilder more;
        more.add("system.network.io",
                 {{"host", "b,x"}, {"device", "eth 0"}, {"direction", "receive"}}, 1,
                 1'790'000'000'000'000'000 + 400 * kSecond, DMON_COUNTER);
        writer.write(more.build());
        EXPECT_EQ(writer.series_count(), 4);
    }
    EXPECT_FALSE(progress.empty());
    EXPECT_TRUE(std::filesystem::exists(path_ + ".schema1.bak"));
    {
        Database backup(path_ + ".schema1.bak", Database::ReadOnly{});
        EXPECT_EQ(schema_version(backup), 1);
    }
    SampleReader reader(path_);
    EXPECT_EQ(reader.stats().schema_version, 2);
    EXPECT_EQ(reader.stats().samples, 1201);
    const auto cpu = reader.query("system.cpu.time", std::string("a"), {}, false);
    ASSERT_EQ(cpu.size(), 300u);
    EXPECT_EQ(cpu[0].labels, "cpu=total,state=user");
    EXPECT_EQ(cpu[0].timestamp_ns, 1'790'000'000'000'000'000);
    EXPECT_EQ(cpu[199].value, 100.0 + 199 * 0.25);
    EXPECT_EQ(cpu[200].value, 0.0);
    EXPECT_EQ(cpu[8].timestamp_ns, 1'790'000'000'000'000'000 + 8 * kSecond + 1000);
    const auto net = reader.query("system.network.io", std::string("b,x"), {}, false);
    ASSERT_EQ(net.size(), 301u);
    EXPECT_EQ(net[0].labels, "device=eth\\ 0,direction=receive");
    const auto util = reader.query("system.cpu.utilization", std::nullopt, {}, false);
    ASSERT_EQ(util.size(), 300u);
    EXPECT_EQ(util[10].value, (10 % 10) / 3.0);
    EXPECT_EQ(util[11].value, (11 % 10) / 3.0);
}

// `dmonctl compact` seals on its own connection while the controller writes: SQLite lets one in
// at a time, and nothing of the chunks lives in the writer's memory, so nothing is lost, doubled
// or overlapping.
TEST_F(SealTest, SealingBesideARunningWriterLosesNothing) {
    { SampleWriter create(settings(16)); }
    std::atomic<bool> done{false};
    std::thread writer_thread([&] {
        SampleWriter writer(settings(16));
        for (int r = 0; r < 200; r += 5) {
            write_rounds(writer, r, 5);
            if (r % 40 == 0)
                writer.seal();  // the writer's own seals, too
        }
        done = true;
    });
    int seals = 0;
    {
        Database db(path_, false);
        while (!done) {
            seal_head(db, 16);
            ++seals;
        }
        seal_head(db, 16);
    }
    writer_thread.join();
    EXPECT_GT(seals, 0);
    EXPECT_EQ(everything().size(), 600u);
    SampleReader reader(path_);
    EXPECT_EQ(reader.stats().samples, 600);
    EXPECT_EQ(reader.stats().head_samples, 0);
    expect_no_overlaps();
}

#ifndef _WIN32
// Runs `work` in a child process and waits for it; true if it was killed by SIGKILL.
template <typename Work>
bool killed_in_child(Work&& work) {
    const pid_t child = fork();
    if (child == 0) {
        work();
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

TEST_F(SealTest, ASigkillBetweenAnyTwoStepsOfASealLosesAndDoublesNothing) {
    const char* steps[] = {"begun", "read", "series", "chunks", "head deleted", "committed"};
    for (const char* step : steps) {
        SCOPED_TRACE(step);
        std::filesystem::remove(path_);
        std::filesystem::remove(path_ + "-wal");
        std::filesystem::remove(path_ + "-shm");
        {
            SampleWriter writer(settings(32));
            write_rounds(writer, 0, 50);
            writer.seal();                 // closed and open chunks exist
            write_rounds(writer, 50, 40);  // and a head to seal
            test::BatchBuilder late;       // with a late point and a duplicate
            late.add("system.memory.usage", {{"host", "a"}, {"state", "used"}}, 1, kT0 + 5)
                .add("system.memory.usage", {{"host", "a"}, {"state", "used"}}, 2, kT0);
            writer.write(late.build());
        }
        const auto before = everything();
        ASSERT_EQ(before.size(), 271u);
        const bool killed = killed_in_child([&] {
            Database db(path_, false);
            seal_head(db, 32, [&](std::string_view at) {
                if (at == step)
                    ::kill(::getpid(), SIGKILL);
            });
        });
        ASSERT_TRUE(killed);
        EXPECT_EQ(everything(), before);
        const int64_t in_head = query_int("SELECT coalesce(sum(count), 0) FROM head");
        EXPECT_EQ(in_head, std::string(step) == "committed" ? 0 : 122);
        // Sealing afterwards (what the next controller does) still gives the same points.
        Database db(path_, false);
        seal_head(db, 32);
        EXPECT_EQ(everything(), before);
        expect_no_overlaps();
    }
}

// A writer acknowledges a batch once it is committed; killed (here: during a seal) with
// batches not yet acknowledged, those are redelivered to the next writer with the same
// message ids. Every point ends up stored exactly once.
TEST_F(SealTest, ExactlyOnceAcrossAWriterKilledWhileSealing) {
    std::mt19937 random(11);
    for (int attempt = 0; attempt < 4; ++attempt) {
        SCOPED_TRACE(attempt);
        std::filesystem::remove(path_);
        std::filesystem::remove(path_ + "-wal");
        std::filesystem::remove(path_ + "-shm");
        const int kill_at_seal = 1 + static_cast<int>(random() % 6);
        const char* steps[] = {"begun", "read", "series", "chunks", "head deleted"};
        const char* kill_step = steps[random() % 5];
        const bool killed = killed_in_child([&] {
            auto s = settings(32);
            SampleWriter writer(s);
            int seals = 0;
            for (int r = 0; r < 300; r += 10) {
                write_rounds(writer, r, 10);
                Database& db = writer.database();
                ++seals;
                seal_head(db, 32, [&](std::string_view at) {
                    if (seals == kill_at_seal && at == kill_step)
                        ::kill(::getpid(), SIGKILL);
                });
            }
        });
        ASSERT_TRUE(killed);
        // The broker redelivers everything not acknowledged; here, to be sure, all of it.
        {
            SampleWriter writer(settings(32));
            write_rounds(writer, 0, 300);
            writer.seal();
        }
        const auto all = everything();
        ASSERT_EQ(all.size(), 900u);
        SampleReader reader(path_);
        EXPECT_EQ(reader.stats().samples, 900);
        expect_no_overlaps();
    }
}
#endif

}  // namespace
}  // namespace dmon::store
