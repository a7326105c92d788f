// The JSON API (docs/http-api.md) on a small store made here: exact bodies, bad parameters,
// a range with no data, a host that stopped reporting. No sockets: Api::handle is the whole
// of it (the server adds transport, auth and headers; server_test.cpp covers those).
#include "api.hpp"

#include "../host/test_support.hpp"
#include "../store_fixtures.hpp"

#include <dmon/store/store.hpp>

#include <gtest/gtest.h>

namespace dmon::test {
namespace {

constexpr int64_t kT0 = 1732468800000000000;  // 2024-11-24T17:20:00Z
constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kNow = kT0 + 3 * kSecond;

class ApiTest : public ::testing::Test {
  protected:
    void SetUp() override {
        db_ = folder_.path("metrics.db");
        store::SampleWriter writer({db_, std::chrono::nanoseconds(0), false});
        BatchBuilder batch;
        // "a" reports every second; "b" stopped a minute before kNow.
        for (int i = 0; i < 3; ++i) {
            batch
                .add("system.cpu.utilization", {{"host", "a"}, {"cpu", "total"}}, 0.25 * (i + 1),
                     kT0 + i * kSecond)
                .add("system.cpu.utilization", {{"host", "a"}, {"cpu", "0"}}, 0.5,
                     kT0 + i * kSecond)
                .add("system.disk.io", {{"host", "a"}, {"device", "sda"}, {"direction", "read"}},
                     i * i * 1000.0, kT0 + i * kSecond, DMON_COUNTER);
        }
        batch.add("system.memory.usage", {{"host", "a"}, {"state", "used"}}, 1e9, kT0 + 2 * kSecond)
            .add("system.memory.limit", {{"host", "a"}}, 4e9, kT0 + 2 * kSecond)
            .add("system.cpu.utilization", {{"host", "b"}, {"cpu", "total"}}, 0.125,
                 kT0 - 60 * kSecond);
        writer.write(batch.build());
        reader_.emplace(db_);
    }
    ctl::web::ApiResponse get(const std::string& target, ctl::web::ApiLimits limits = {}) {
        return ctl::web::Api(limits).handle(target, *reader_, kNow);
    }

    TempFolder folder_;
    std::string db_;
    std::optional<store::SampleReader> reader_;
};

TEST_F(ApiTest, Hosts) {
    const auto answer = get("/api/v1/hosts");
    EXPECT_EQ(answer.status, 200);
    // a: every second, last seen at kT0 + 2 s; b: one point (interval unknown: 10 s), 63 s
    // before now, more than three intervals: stale.
    EXPECT_EQ(answer.body,
              R"({"now":1732468803000,"hosts":[)"
              R"({"host":"a","last_seen":1732468802000,"interval":1.0,"stale":false},)"
              R"({"host":"b","last_seen":1732468740000,"interval":10.0,"stale":true}]})");
}

TEST_F(ApiTest, Overview) {
    const auto answer = get("/api/v1/overview?window=4s&points=4");
    EXPECT_EQ(answer.status, 200);
    // The window [now - 4 s, now] in 4 buckets of 1 s, one shared grid of their middles; a's
    // points fall in buckets 1, 2 and 3, b has none. The disk rate is the newest:
    // (4000 - 1000) / 1 s. b's newest CPU value (from the last 15 minutes, outside the
    // window) is given with stale: true; the page shows "stale" instead of it.
    EXPECT_EQ(
        answer.body,
        R"({"now":1732468803000,"window":4.0,)"
        R"("cpu_recent_t":[1732468799500,1732468800500,1732468801500,1732468802500],"hosts":[)"
        R"({"host":"a","last_seen":1732468802000,"interval":1.0,"stale":false,"cpu":0.75,)"
        R"("memory":{"used":1000000000.0,"limit":4000000000.0},"disk":{"read":3000.0,"write":null},)"
        R"("network":{"receive":null,"transmit":null},"cpu_recent":[null,0.25,0.5,0.75]},)"
        R"({"host":"b","last_seen":1732468740000,"interval":10.0,"stale":true,"cpu":0.125,)"
        R"("memory":{"used":null,"limit":null},"disk":{"read":null,"write":null},)"
        R"("network":{"receive":null,"transmit":null},"cpu_recent":[null,null,null,null]}]})");
}

TEST_F(ApiTest, MetricsOfTheStoreAndOfOneHost) {
    EXPECT_EQ(
        get("/api/v1/metrics").body,
        R"({"metrics":[)"
        R"({"name":"system.cpu.utilization","type":"gauge","unit":"1","series":3,"hosts":2},)"
        R"({"name":"system.disk.io","type":"counter","unit":"By","series":1,"hosts":1},)"
        R"({"name":"system.memory.limit","type":"gauge","unit":"By","series":1,"hosts":1},)"
        R"({"name":"system.memory.usage","type":"gauge","unit":"By","series":1,"hosts":1}]})");
    EXPECT_EQ(
        get("/api/v1/metrics?host=b").body,
        R"({"metrics":[)"
        R"({"name":"system.cpu.utilization","type":"gauge","unit":"1","series":1,"hosts":1}]})");
}

TEST_F(ApiTest, SeriesWithLabelFilters) {
    EXPECT_EQ(get("/api/v1/series?metric=system.cpu.utilization").body,
              R"({"metric":"system.cpu.utilization","type":"gauge","unit":"1","series":[)"
              R"({"host":"a","labels":{"cpu":"0"}},{"host":"a","labels":{"cpu":"total"}},)"
              R"({"host":"b","labels":{"cpu":"total"}}]})");
    EXPECT_EQ(get("/api/v1/series?metric=system.cpu.utilization&label=cpu%3Dtotal&host=a").body,
              R"({"metric":"system.cpu.utilization","type":"gauge","unit":"1","series":[)"
              R"({"host":"a","labels":{"cpu":"total"}}]})");
}

TEST_F(ApiTest, PointsInBucketsOfTheStep) {
    // Two buckets of 2 s from kT0: {0.25, 0.5} and {0.75}.
    EXPECT_EQ(get("/api/v1/points?metric=system.cpu.utilization&host=a&label=cpu=total"
                  "&from=1732468800000&until=1732468803000&step=2s&agg=min,mean,max,count")
                  .body,
              R"({"metric":"system.cpu.utilization","type":"gauge","unit":"1","rate":false,)"
              R"("from":1732468800000,"until":1732468803000,"step":2000,)"
              R"("t":[1732468800000,1732468802000],"series":[{"host":"a","labels":{"cpu":"total"},)"
              R"("count":[2,1],"max":[0.5,0.75],"mean":[0.375,0.75],"min":[0.25,0.75]}]})");
}

TEST_F(ApiTest, PointsAsRatesOfACounter) {
    // Counter 0, 1000, 4000 a second apart: rates 1000/s and 3000/s; RFC 3339 moments.
    EXPECT_EQ(
        get("/api/v1/points?metric=system.disk.io&rate=true&from=2024-11-24T17:20:00Z"
            "&until=2024-11-24T17:20:02.5Z&step=1s")
            .body,
        R"({"metric":"system.disk.io","type":"rate","unit":"By","rate":true,)"
        R"("from":1732468800000,"until":1732468802500,"step":1000,)"
        R"("t":[1732468800000,1732468801000,1732468802000],"series":[)"
        R"({"host":"a","labels":{"device":"sda","direction":"read"},"mean":[null,1000.0,3000.0]}]})");
}

// No response has more buckets than `points` asked for: the step grows to fit.
TEST_F(ApiTest, TheStepGrowsSoNoResponseHoldsMorePointsThanAsked) {
    const auto answer =
        get("/api/v1/points?metric=system.cpu.utilization&host=a&label=cpu=0"
            "&from=1732468800000&until=1732468803000&points=2");
    EXPECT_EQ(answer.body,
              R"({"metric":"system.cpu.utilization","type":"gauge","unit":"1","rate":false,)"
              R"("from":1732468800000,"until":1732468803000,"step":3000,)"
              R"("t":[1732468800000,1732468803000],"series":[)"
              R"({"host":"a","labels":{"cpu":"0"},"mean":[0.5,null]}]})");
}

TEST_F(ApiTest, ARangeWithNoData) {
    EXPECT_EQ(get("/api/v1/points?metric=system.cpu.utilization&host=b"
                  "&from=1732468800000&until=1732468802000&step=1s")
                  .body,
              R"({"metric":"system.cpu.utilization","type":"gauge","unit":"1","rate":false,)"
              R"("from":1732468800000,"until":1732468802000,"step":1000,)"
              R"("t":[1732468800000,1732468801000,1732468802000],"series":[)"
              R"({"host":"b","labels":{"cpu":"total"},"mean":[null,null,null]}]})");
    // A host with no such series: no series at all (the 1 s range in buckets of 2 ms: the
    // default 1,000 points).
    const auto none = get("/api/v1/points?metric=system.disk.io&host=b&from=now-1s");
    EXPECT_EQ(none.status, 200);
    EXPECT_NE(none.body.find(R"("from":1732468802000,"until":1732468803000,"step":2,"t":[)"),
              std::string::npos)
        << none.body;
    EXPECT_EQ(none.body.substr(none.body.size() - 14), R"(],"series":[]})");
}

TEST_F(ApiTest, Latest) {
    EXPECT_EQ(get("/api/v1/latest?host=a&metric=system.memory.usage").body,
              R"({"latest":[{"host":"a","name":"system.memory.usage","labels":{"state":"used"},)"
              R"("type":"gauge","unit":"By","t":1732468802000,"value":1000000000.0}]})");
    ctl::web::ApiLimits small;
    small.max_latest_rows = 2;
    EXPECT_EQ(get("/api/v1/latest?host=a", small).body.substr(0, 12), R"({"latest":[{)");
    EXPECT_NE(get("/api/v1/latest?host=a", small).body.find(R"(],"truncated":true,"limit":2})"),
              std::string::npos);
}

TEST_F(ApiTest, BadParametersAre400AndSayWhich) {
    struct Case {
        std::string target, body;
    };
    const std::vector<Case> cases = {
        {"/api/v1/points", R"({"error":"missing parameter 'metric'","parameter":"metric"})"},
        {"/api/v1/points?metric=system.cpu.utilization&from=yesterday",
         R"({"error":"from must be ms since the epoch, a UTC time such as 2024-11-24T16:00:00Z, now or now-15m; got 'yesterday'","parameter":"from"})"},
        {"/api/v1/points?metric=system.cpu.utilization&from=now&until=now-1h",
         R"({"error":"from must be before until","parameter":"from"})"},
        {"/api/v1/points?metric=system.cpu.utilization&until=2260-01-01T00:00:00Z",
         R"({"error":"until is outside 1970..2255; got '2260-01-01T00:00:00Z'","parameter":"until"})"},
        {"/api/v1/points?metric=system.cpu.utilization&until=999999999999999999",
         R"({"error":"until is outside 1970..2255; got '999999999999999999'","parameter":"until"})"},
        {"/api/v1/points?metric=system.cpu.utilization&from=now-30000d",
         R"({"error":"from is outside 1970..2255; got 'now-30000d'","parameter":"from"})"},
        {"/api/v1/points?metric=system.cpu.utilization&from=now-401d",
         R"({"error":"the range is longer than 400 days","parameter":"from"})"},
        {"/api/v1/points?metric=system.cpu.utilization&points=0",
         R"({"error":"points must be 2..10000","parameter":"points"})"},
        {"/api/v1/points?metric=system.cpu.utilization&points=1e3",
         R"({"error":"points must be an integer; got '1e3'","parameter":"points"})"},
        {"/api/v1/points?metric=system.cpu.utilization&step=-1s",
         R"({"error":"step must be a duration such as 30s, 15m or 24h; got '-1s'","parameter":"step"})"},
        {"/api/v1/points?metric=system.cpu.utilization&rate=true",
         R"({"error":"rate turns a counter into per-second rates; system.cpu.utilization is a gauge","parameter":"rate"})"},
        {"/api/v1/points?metric=system.cpu.utilization&agg=median",
         R"({"error":"agg must list min, mean, max, last or count; got 'median'","parameter":"agg"})"},
        {"/api/v1/points?metric=system.cpu.utilization&label=cpu",
         R"({"error":"label must be key=value; got 'cpu'","parameter":"label"})"},
        {"/api/v1/points?metric=system.cpu.utilization&hots=a",
         R"({"error":"unknown parameter 'hots'","parameter":"hots"})"},
        {"/api/v1/hosts?x=%zz", R"({"error":"a query parameter has a malformed %-escape"})"},
        {"/api/v1/overview?window=25h",
         R"({"error":"window must be 24h or less","parameter":"window"})"},
        {"/api/v1/overview?points=1", R"({"error":"points must be 2..600","parameter":"points"})"},
    };
    for (const auto& c : cases) {
        const auto answer = get(c.target);
        EXPECT_EQ(answer.status, 400) << c.target;
        EXPECT_EQ(answer.body, c.body) << c.target;
    }
}

TEST_F(ApiTest, UnknownNamesAre404WithTheClosest) {
    auto metric = get("/api/v1/points?metric=system.cpu.utilisation");
    EXPECT_EQ(metric.status, 404);
    EXPECT_EQ(metric.body,
              R"({"error":"no metric 'system.cpu.utilisation' in the store","parameter":"metric",)"
              R"("suggestions":["system.cpu.utilization"]})");
    auto endpoint = get("/api/v1/nothing");
    EXPECT_EQ(endpoint.status, 404);
    EXPECT_EQ(endpoint.body,
              R"x({"error":"no such endpoint: /api/v1/nothing (see docs/http-api.md)"})x");
}

TEST_F(ApiTest, TooManySeriesIsRefusedWithAHint) {
    ctl::web::ApiLimits small;
    small.max_series = 2;
    const auto answer = get("/api/v1/points?metric=system.cpu.utilization", small);
    EXPECT_EQ(answer.status, 400);
    EXPECT_EQ(answer.body,
              R"({"error":"the filter matches 3 series, more than 2 in one response: filter by )"
              R"(host or label","parameter":"metric"})");
    EXPECT_EQ(get("/api/v1/points?metric=system.cpu.utilization&host=a", small).status, 200);
}

// Hostile text stays text: a label value with quotes, control bytes and invalid UTF-8 comes
// out as valid JSON.
TEST_F(ApiTest, HostileLabelsAreValidJson) {
    {
        store::SampleWriter writer({db_, std::chrono::nanoseconds(0), false});
        BatchBuilder batch;
        batch.add("evil", {{"host", "x\"}"}, {"k,=", "v\x01\xff"}}, 1, kT0);
        writer.write(batch.build());
    }
    EXPECT_EQ(
        get("/api/v1/series?metric=evil").body,
        "{\"metric\":\"evil\",\"type\":\"gauge\",\"unit\":\"\",\"series\":[{\"host\":\"x\\\"}\","
        "\"labels\":{\"k,=\":\"v\\u0001\xEF\xBF\xBD\"}}]}");
}

}  // namespace
}  // namespace dmon::test
