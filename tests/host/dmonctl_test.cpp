// dmonctl against a prepared database: exact output of every command and format.
#include <dmon/store/store.hpp>
#include "test_support.hpp"

#include "../store_fixtures.hpp"

#include <gtest/gtest.h>

#include <filesystem>

namespace dmon::test {
namespace {

const std::string kDmonctl = DMONCTL_BINARY;
constexpr int64_t kT0 = 1732468800000000000;  // 2024-11-24T17:20:00Z
constexpr int64_t kSecond = 1'000'000'000;

class DmonctlTest : public ::testing::Test {
  protected:
    void SetUp() override {
        db_ = folder_.path("metrics.db");
        store::SampleWriter writer({db_, std::chrono::nanoseconds(0), false});
        BatchBuilder batch;
        batch.add("system.cpu.utilization", {{"host", "web1"}, {"cpu", "total"}}, 0.25, kT0)
            .add("system.cpu.utilization", {{"host", "web1"}, {"cpu", "total"}}, 0.5,
                 kT0 + 10 * kSecond)
            .add("system.disk.io", {{"host", "web1"}, {"device", "sda"}, {"direction", "read"}},
                 1000, kT0, DMON_COUNTER)
            .add("system.disk.io", {{"host", "web1"}, {"device", "sda"}, {"direction", "read"}},
                 6000, kT0 + 10 * kSecond, DMON_COUNTER)
            .add("system.disk.io", {{"host", "web1"}, {"device", "sda"}, {"direction", "read"}},
                 500, kT0 + 20 * kSecond,
                 DMON_COUNTER)  // a reset: no rate for that step
            .add("system.cpu.utilization", {{"host", "db, 2"}, {"cpu", "total"}}, 0.125,
                 kT0 + 5 * kSecond);
        writer.write(batch.build());
    }
    CommandResult ctl(const std::string& arguments) {
        return run_command(kDmonctl + " " + arguments + " --db " + db_);
    }

    TempFolder folder_;
    std::string db_;
};

// Stored text comes from agents, who may be hostile: a spreadsheet formula in a host name, a
// terminal escape sequence in a label. CSV defuses the formula, the table shows the bytes.
TEST_F(DmonctlTest, HostileTextIsDefusedInCsvAndEscapedInTables) {
    {
        store::SampleWriter writer({db_, std::chrono::nanoseconds(0), false});
        BatchBuilder batch;
        batch.add("evil", {{"host", "=HYPERLINK(\"x\")"}, {"note", "\x1b]0;owned\x07"}}, -1.5, kT0);
        writer.write(batch.build());
    }
    const std::string csv = ctl("latest --host =HYPERLINK\\(\\\"x\\\"\\) --format csv").output;
    EXPECT_EQ(csv,
              "host,name,labels,timestamp,value\n"
              "\"'=HYPERLINK(\"\"x\"\")\",evil,note=\x1b]0;owned\x07,1732468800000000000,-1.5\n");
    const std::string table = ctl("hosts").output;
    EXPECT_EQ(table, "host\n=HYPERLINK(\"x\")\ndb, 2\nweb1\n");
    const std::string latest = ctl("latest --host =HYPERLINK\\(\\\"x\\\"\\)").output;
    EXPECT_NE(latest.find("note=\\x1b]0;owned\\x07"), std::string::npos) << latest;
    EXPECT_EQ(latest.find('\x1b'), std::string::npos);
}

// dmonctl's handle cannot change the store, whatever it runs.
TEST_F(DmonctlTest, TheReaderOpensTheStoreReadOnly) {
    store::Database db(db_, store::Database::ReadOnly{});
    EXPECT_THROW(db.exec("DELETE FROM series"), store::DatabaseError);
}

TEST_F(DmonctlTest, Hosts) {
    auto result = ctl("hosts");
    EXPECT_EQ(result.exit_code, 0);
    EXPECT_EQ(result.output, "host\ndb, 2\nweb1\n");
}

TEST_F(DmonctlTest, MetricsAsTableAndJson) {
    EXPECT_EQ(ctl("metrics").output,
              "name                    type     unit  series  hosts\n"
              "system.cpu.utilization  gauge    1          2      2\n"
              "system.disk.io          counter  By         1      1\n");
    // From the JSON library: keys in column order, numbers as numbers, one object a line.
    EXPECT_EQ(ctl("metrics --format json").output,
              "[\n {\"name\":\"system.cpu.utilization\",\"type\":\"gauge\",\"unit\":\"1\","
              "\"series\":2,\"hosts\":2},\n"
              " {\"name\":\"system.disk.io\",\"type\":\"counter\",\"unit\":\"By\",\"series\":1,"
              "\"hosts\":1}\n]\n");
}

TEST_F(DmonctlTest, LatestAsCsv) {
    auto result = ctl("latest --format csv");
    EXPECT_EQ(result.exit_code, 0);
    EXPECT_EQ(result.output,
              "host,name,labels,timestamp,value\n"
              "\"db, 2\",system.cpu.utilization,cpu=total,1732468805000000000,0.125\n"
              "web1,system.cpu.utilization,cpu=total,1732468810000000000,0.5\n"
              "web1,system.disk.io,\"device=sda,direction=read\",1732468820000000000,500\n");
}

TEST_F(DmonctlTest, QueryAsTableWithUtcTimes) {
    EXPECT_EQ(ctl("query --metric system.cpu.utilization --host web1 --since 100000d").output,
              "host  name                    labels     timestamp                  value\n"
              "web1  system.cpu.utilization  cpu=total  2024-11-24T17:20:00.000Z  25.0 %\n"
              "web1  system.cpu.utilization  cpu=total  2024-11-24T17:20:10.000Z  50.0 %\n");
}

// Tables show units and three significant digits; CSV and JSON keep the exact numbers.
TEST_F(DmonctlTest, TablesShowUnitsAndRoundedRates) {
    EXPECT_EQ(
        ctl("query --metric system.disk.io --since 100000d --rate").output,
        "host  name            labels                     timestamp                   value\n"
        "web1  system.disk.io  device=sda,direction=read  2024-11-24T17:20:10.000Z  500 B/s\n");
    {
        store::SampleWriter writer({db_, std::chrono::nanoseconds(0), false});
        BatchBuilder batch;
        batch.add("system.network.io", {{"host", "web1"}, {"device", "eth0"}}, 0, kT0, DMON_COUNTER)
            .add("system.network.io", {{"host", "web1"}, {"device", "eth0"}}, 10'000'000'000,
                 kT0 + 3 * kSecond, DMON_COUNTER);
        writer.write(batch.build());
    }
    const std::string table = ctl("query --metric system.network.io --since 100000d --rate").output;
    EXPECT_NE(table.find("  3.10 GiB/s\n"), std::string::npos) << table;
    EXPECT_EQ(ctl("query --metric system.network.io --since 100000d --rate --format csv").output,
              "host,name,labels,timestamp,value\n"
              "web1,system.network.io,device=eth0,1732468803000000000,3333333333.3333335\n");
    EXPECT_EQ(ctl("query --metric system.network.io --since 100000d --rate --format json").output,
              "[\n {\"host\":\"web1\",\"name\":\"system.network.io\",\"labels\":\"device=eth0\","
              "\"timestamp\":1732468803000000000,\"value\":3333333333.3333335}\n]\n");
}

// An unknown metric or host is an error that names the closest ones, not an empty table;
// --rate on a gauge is refused with the reason.
TEST_F(DmonctlTest, UnknownNamesAreErrorsWithSuggestions) {
    auto metric = ctl("query --metric system.cpu.utilisation");
    EXPECT_EQ(metric.exit_code, 1);
    EXPECT_EQ(metric.output, "error: no metric 'system.cpu.utilisation' in " + db_ +
                                 "; the closest: system.cpu.utilization\n");
    auto host = ctl("latest --host web");
    EXPECT_EQ(host.exit_code, 1);
    EXPECT_EQ(host.output, "error: no host 'web' in " + db_ + "; the closest: web1\n");
    auto rate = ctl("query --metric system.cpu.utilization --rate");
    EXPECT_EQ(rate.exit_code, 2);
    EXPECT_EQ(rate.output,
              "dmonctl: --rate turns a counter into per-second rates; system.cpu.utilization is "
              "a gauge, shown as it is without --rate\n");
}

// Options before or after the command; `COMMAND --help`; an option a command does not take.
TEST_F(DmonctlTest, OptionsAnywhereAndHelpPerCommand) {
    EXPECT_EQ(run_command(kDmonctl + " --db " + db_ + " hosts").output, "host\ndb, 2\nweb1\n");
    EXPECT_EQ(run_command(kDmonctl + " --format csv --db " + db_ + " hosts").output,
              "host\n\"db, 2\"\nweb1\n");
    auto help = run_command(kDmonctl + " query --help");
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_EQ(help.output.rfind("usage: dmonctl query --metric NAME", 0), 0u) << help.output;
    auto serve_help = run_command(kDmonctl + " --help serve");
    EXPECT_EQ(serve_help.output.rfind("usage: dmonctl serve [--listen 127.0.0.1:8080]", 0), 0u)
        << serve_help.output;
    auto wrong = ctl("hosts --step 1m");
    EXPECT_EQ(wrong.exit_code, 2);
    EXPECT_EQ(wrong.output,
              "dmonctl: 'hosts' takes no --step\nusage: dmonctl hosts [--db FILE] "
              "[--format F]   (dmonctl hosts --help for more)\n");
    auto typo = run_command(kDmonctl + " hots");
    EXPECT_EQ(typo.exit_code, 2);
    EXPECT_EQ(typo.output.rfind("dmonctl: unknown command 'hots' (did you mean hosts?)\n", 0), 0u)
        << typo.output;
    // A control option before the command reaches the command (it once printed the usage).
    auto reload = run_command(kDmonctl + " --control " + folder_.path("none.sock") + " reload");
    EXPECT_EQ(reload.exit_code, 1);
    EXPECT_NE(reload.output.find("no dmon host answers there"), std::string::npos) << reload.output;
}

TEST_F(DmonctlTest, QueryRateTurnsCountersIntoPerSecondRates) {
    EXPECT_EQ(ctl("query --metric system.disk.io --since 100000d --rate --format csv").output,
              "host,name,labels,timestamp,value\n"
              "web1,system.disk.io,\"device=sda,direction=read\",1732468810000000000,500\n");
}

TEST_F(DmonctlTest, QuerySinceLeavesOutOlderPoints) {
    EXPECT_EQ(ctl("query --metric system.cpu.utilization --since 1h --format csv").output,
              "host,name,labels,timestamp,value\n");
}

// A host that reports is shown with its values; one that stopped (the fixture's, from 2024)
// is marked stale and its frozen values are not shown as current.
TEST_F(DmonctlTest, TopShowsOneLinePerHostAndMarksStaleOnes) {
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    {
        store::SampleWriter writer({db_, std::chrono::nanoseconds(0), false});
        BatchBuilder batch;
        for (int i = 0; i < 3; ++i) {
            batch
                .add("system.cpu.utilization", {{"host", "live"}, {"cpu", "total"}}, 0.5,
                     now - (2 - i) * kSecond)
                .add("system.disk.io", {{"host", "live"}, {"device", "sda"}, {"direction", "read"}},
                     1048576.0 * i, now - (2 - i) * kSecond, DMON_COUNTER);
        }
        writer.write(batch.build());
    }
    auto result = ctl("top --once");
    EXPECT_EQ(result.exit_code, 0);
    EXPECT_NE(result.output.find("host      cpu  mem used  mem  disk read/s  disk write/s  "
                                 "net rx/s  net tx/s  last seen\n"),
              std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("live   50.0 %         -    -   1.00 MiB/s             -         "
                                 "-         -  "),
              std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("web1        -         -    -            -             -         "
                                 "-         -  "),
              std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find(" d ago (stale)\n"), std::string::npos) << result.output;
    EXPECT_EQ(result.output.find("live   50.0 %") < result.output.find(" s ago\n"), true);
}

// `compact` seals the head; `query` answers the same points before and after, `stats` counts
// them in the head, then in chunks.
TEST_F(DmonctlTest, StatsCompactAndTheSameAnswersAfterSealing) {
    const std::string before = ctl("query --metric system.disk.io --since 100000d").output;
    const std::string before_rate =
        ctl("query --metric system.disk.io --since 100000d --rate --format csv").output;
    auto stats = ctl("stats --format json");
    EXPECT_EQ(stats.exit_code, 0);
    EXPECT_NE(stats.output.find("\"series\":3,\"samples\":6,\"bytes\":"), std::string::npos)
        << stats.output;
    EXPECT_NE(stats.output.find("\"head_samples\":6,\"chunks\":0"), std::string::npos)
        << stats.output;
    EXPECT_NE(stats.output.find("\"oldest\":1732468800000000000,\"newest\":1732468820000000000"),
              std::string::npos)
        << stats.output;
    auto compact = ctl("compact");
    EXPECT_EQ(compact.exit_code, 0) << compact.output;
    EXPECT_EQ(compact.output, "sealed 6 samples of 3 series into 3 chunks\n");
    stats = ctl("stats --format json");
    EXPECT_NE(stats.output.find("\"samples\":6,"), std::string::npos) << stats.output;
    EXPECT_NE(stats.output.find("\"head_samples\":0,\"chunks\":3"), std::string::npos)
        << stats.output;
    EXPECT_EQ(ctl("query --metric system.disk.io --since 100000d").output, before);
    EXPECT_EQ(ctl("query --metric system.disk.io --since 100000d --rate --format csv").output,
              before_rate);
    EXPECT_EQ(ctl("compact").output, "sealed 0 samples of 0 series into 0 chunks\n");
    const std::string table = ctl("stats").output;
    EXPECT_NE(table.find("series  samples"), std::string::npos) << table;
    EXPECT_NE(table.find("2024-11-24T17:20:00.000Z"), std::string::npos) << table;
}

TEST_F(DmonctlTest, QueryInStepsAndBetweenMoments) {
    EXPECT_EQ(ctl("query --metric system.cpu.utilization --host web1 --since 100000d --step 1m "
                  "--format csv")
                  .output,
              "host,name,labels,timestamp,min,mean,max,last,count\n"
              "web1,system.cpu.utilization,cpu=total,1732468800000000000,0.25,0.375,0.5,0.5,2\n");
    EXPECT_EQ(ctl("query --metric system.cpu.utilization --from 2024-11-24T17:20:05Z --until "
                  "1732468810000000000 --format csv")
                  .output,
              "host,name,labels,timestamp,value\n"
              "\"db, 2\",system.cpu.utilization,cpu=total,1732468805000000000,0.125\n"
              "web1,system.cpu.utilization,cpu=total,1732468810000000000,0.5\n");
    auto bad = ctl("query --metric m --from yesterday");
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_EQ(bad.output.rfind("dmonctl: --from needs ns since the epoch or a UTC time such as "
                               "2024-11-24T16:00:00Z; got 'yesterday'\n",
                               0),
              0u)
        << bad.output;
    EXPECT_EQ(ctl("query --metric m --step 0s").exit_code, 2);
}

// A file written by the schema 1 store: dmonctl says how to migrate it, and `migrate` does.
TEST_F(DmonctlTest, MigrateASchemaOneFile) {
    const std::string old = folder_.path("old.db");
    std::filesystem::copy_file(std::string(DMON_TEST_DATA_DIR) + "/store-v1.db", old);
    auto refused = run_command(kDmonctl + " hosts --db " + old);
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_NE(refused.output.find("schema version 1 (one row per sample, written by an older "
                                  "dmon). It is migrated in place when a controller's "
                                  "sqlite_store opens it, or now with 'dmonctl migrate --db "),
              std::string::npos)
        << refused.output;
    auto migrated = run_command(kDmonctl + " migrate --no-backup --db " + old);
    EXPECT_EQ(migrated.exit_code, 0) << migrated.output;
    EXPECT_NE(migrated.output.find("migrated 1200 samples of 4 series to schema 2"),
              std::string::npos)
        << migrated.output;
    EXPECT_FALSE(std::filesystem::exists(old + ".schema1.bak"));
    EXPECT_EQ(run_command(kDmonctl + " hosts --db " + old).output, "host\na\nb,x\n");
    EXPECT_EQ(run_command(kDmonctl + " migrate --db " + old).output, old + ": already schema 2\n");
}

TEST_F(DmonctlTest, BadUsageAndMissingFiles) {
    auto no_metric = ctl("query");
    EXPECT_EQ(no_metric.exit_code, 2);
    EXPECT_EQ(no_metric.output.rfind("dmonctl: 'query' needs --metric NAME\n", 0), 0u);
    auto bad_format = ctl("hosts --format xml");
    EXPECT_EQ(bad_format.exit_code, 2);
    EXPECT_EQ(
        bad_format.output.rfind("dmonctl: --format must be table, csv or json; got 'xml'\n", 0),
        0u);
    auto missing = run_command(kDmonctl + " hosts --db " + folder_.path("none.db"));
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_EQ(missing.output, "error: " + folder_.path("none.db") +
                                  ": cannot open the database: unable to open database file\n");
}

}  // namespace
}  // namespace dmon::test
