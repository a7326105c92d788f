// The Prometheus sinks' pure parts: names, the exposition in both formats (exact text), the
// remote-write request (decoded back), and docs/metrics.md's name table against the code.
#include "prometheus_common/exposition.hpp"
#include "prometheus_common/naming.hpp"
#include "write_request.hpp"

#include <dmon/metric_catalog.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <vector>

namespace dmon::plugins::prometheus {
namespace {

// A sample with its labels kept alive beside it.
struct Sample {
    std::string name;
    std::vector<std::pair<std::string, std::string>> label_text;
    std::vector<dmon_label> labels;
    dmon_sample raw{};

    Sample(std::string n, std::vector<std::pair<std::string, std::string>> l, double value,
           int64_t timestamp_ns, dmon_sample_type type = DMON_GAUGE)
        : name(std::move(n)), label_text(std::move(l)) {
        for (const auto& [key, text] : label_text)
            labels.push_back({{key.data(), key.size()}, {text.data(), text.size()}});
        raw.name = {name.data(), name.size()};
        raw.labels = labels.data();
        raw.label_count = labels.size();
        raw.value = value;
        raw.timestamp_ns = timestamp_ns;
        raw.type = type;
    }
    Sample(const Sample&) = delete;
};

constexpr int64_t kSecond = 1000000000;
constexpr int64_t kT0 = 1732468800 * kSecond + 123 * 1000000;  // 2024-11-24T17:20:00.123Z

TEST(PrometheusNames, FollowTheOpenTelemetryRules) {
    EXPECT_EQ(metric_name("system.cpu.time", "s", DMON_COUNTER), "system_cpu_time_seconds_total");
    EXPECT_EQ(metric_name("system.memory.limit", "By", DMON_GAUGE), "system_memory_limit_bytes");
    EXPECT_EQ(metric_name("system.cpu.utilization", "1", DMON_GAUGE),
              "system_cpu_utilization_ratio");
    EXPECT_EQ(metric_name("system.disk.operations", "{operations}", DMON_COUNTER),
              "system_disk_operations_total");
    EXPECT_EQ(family_name("system.cpu.time", "s", DMON_COUNTER), "system_cpu_time_seconds");
    // A unit already in the name is not added twice; "_total" is not doubled.
    EXPECT_EQ(metric_name("app.latency.seconds", "s", DMON_GAUGE), "app_latency_seconds");
    EXPECT_EQ(metric_name("app.requests.total", "", DMON_COUNTER), "app_requests_total");
    // Characters Prometheus does not allow, a leading digit, runs of separators.
    EXPECT_EQ(metric_name("my-app/queue..depth", "", DMON_GAUGE), "my_app_queue_depth");
    EXPECT_EQ(metric_name("9lives", "", DMON_GAUGE), "_9lives");
    EXPECT_EQ(metric_name("net.rate", "By/s", DMON_GAUGE), "net_rate_bytes_per_second");
    EXPECT_EQ(unit_suffix("1", DMON_COUNTER), "");  // a counter of ratios has no "ratio"
    EXPECT_EQ(unit_suffix("ms", DMON_GAUGE), "milliseconds");
}

TEST(PrometheusNames, LabelNamesAreSanitisedAndNeverReserved) {
    EXPECT_EQ(label_name("device"), "device");
    EXPECT_EQ(label_name("k8s.pod.name"), "k8s_pod_name");
    EXPECT_EQ(label_name("0zone"), "key_0zone");
    EXPECT_EQ(label_name("__name__"), "key__name__");  // cannot rename the series
    EXPECT_EQ(label_name("_private"), "_private");
    EXPECT_EQ(label_name(""), "key_");
    Sample sample("m", {{"a.b", "1"}, {"a_b", "2"}, {"host", "h"}}, 1, kT0);
    const auto labels = sanitized_labels(sample.raw);
    ASSERT_EQ(labels.size(), 2u);
    EXPECT_EQ(labels[0], (std::pair<std::string, std::string>{"a_b", "1;2"}));
    EXPECT_EQ(labels[1], (std::pair<std::string, std::string>{"host", "h"}));
}

TEST(PrometheusNames, LabelValuesAreMadeUtf8) {
    EXPECT_EQ(valid_utf8("plain"), "plain");
    EXPECT_EQ(valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
              "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    EXPECT_EQ(valid_utf8("a\xff"
                         "b"),
              "a\xef\xbf\xbd"
              "b");                                                 // not a lead byte
    EXPECT_EQ(valid_utf8("\xc3"), "\xef\xbf\xbd");                  // cut short
    EXPECT_EQ(valid_utf8("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");  // overlong '/'
    EXPECT_EQ(valid_utf8("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // a surrogate
}

TEST(PrometheusExposition, TextFormatIsExact) {
    Exposition exposition({});
    Sample user("system.cpu.time", {{"host", "web-1"}, {"cpu", "total"}, {"state", "user"}}, 12.5,
                kT0, DMON_COUNTER);
    Sample idle("system.cpu.time", {{"host", "web-1"}, {"cpu", "total"}, {"state", "idle"}}, 100,
                kT0, DMON_COUNTER);
    Sample memory("system.memory.limit", {{"host", "web-1"}}, 8589934592.0, kT0);
    Sample odd("custom.thing", {{"host", "web-1"}, {"path", "C:\\a \"b\"\nc"}}, 0.1, kT0 + kSecond);
    for (Sample* s : {&user, &idle, &memory, &odd})
        EXPECT_EQ(exposition.update(s->raw, kT0), Exposition::Update::stored);
    std::string text;
    exposition.render(Format::text, kT0, text);
    EXPECT_EQ(text,
              "# HELP custom_thing dmon metric (custom.thing)\n"
              "# TYPE custom_thing gauge\n"
              "custom_thing{host=\"web-1\",path=\"C:\\\\a \\\"b\\\"\\nc\"} 0.1 1732468801123\n"
              "# HELP system_cpu_time_seconds_total Seconds each CPU spent in each state "
              "(system.cpu.time)\n"
              "# TYPE system_cpu_time_seconds_total counter\n"
              "system_cpu_time_seconds_total{host=\"web-1\",cpu=\"total\",state=\"idle\"} 100 "
              "1732468800123\n"
              "system_cpu_time_seconds_total{host=\"web-1\",cpu=\"total\",state=\"user\"} 12.5 "
              "1732468800123\n"
              "# HELP system_memory_limit_bytes Total physical memory (system.memory.limit)\n"
              "# TYPE system_memory_limit_bytes gauge\n"
              "system_memory_limit_bytes{host=\"web-1\"} 8589934592 1732468800123\n");
}

// Found by fuzz_prometheus: a name with a line feed, from any agent, once started a line of its
// own in # HELP.
TEST(PrometheusExposition, ANameFromOutsideCannotStartALine) {
    Exposition exposition({});
    Sample hostile("x\nfake_metric 1", {{"host", "h"}}, 1, kT0);
    exposition.update(hostile.raw, kT0);
    std::string text;
    exposition.render(Format::text, kT0, text);
    EXPECT_EQ(text,
              "# HELP x_fake_metric_1 dmon metric (x\\nfake_metric 1)\n"
              "# TYPE x_fake_metric_1 gauge\n"
              "x_fake_metric_1{host=\"h\"} 1 1732468800123\n");
}

TEST(PrometheusExposition, OpenMetricsNamesFamiliesUnitsAndEnds) {
    Exposition exposition({});
    Sample user("system.cpu.time", {{"host", "h"}, {"state", "user"}}, 12.5, kT0, DMON_COUNTER);
    Sample ratio("system.cpu.utilization", {{"host", "h"}}, 0.25, kT0);
    Sample nan("custom.nan", {{"host", "h"}}, std::nan(""), kT0);
    Sample inf("custom.inf", {{"host", "h"}}, -std::numeric_limits<double>::infinity(), kT0);
    for (Sample* s : {&user, &ratio, &nan, &inf})
        exposition.update(s->raw, kT0);
    std::string text;
    exposition.render(Format::openmetrics, kT0, text);
    EXPECT_EQ(text,
              "# HELP custom_inf dmon metric (custom.inf)\n"
              "# TYPE custom_inf gauge\n"
              "custom_inf{host=\"h\"} -Inf 1732468800.123\n"
              "# HELP custom_nan dmon metric (custom.nan)\n"
              "# TYPE custom_nan gauge\n"
              "custom_nan{host=\"h\"} NaN 1732468800.123\n"
              "# HELP system_cpu_time_seconds Seconds each CPU spent in each state "
              "(system.cpu.time)\n"
              "# TYPE system_cpu_time_seconds counter\n"
              "# UNIT system_cpu_time_seconds seconds\n"
              "system_cpu_time_seconds_total{host=\"h\",state=\"user\"} 12.5 1732468800.123\n"
              "# HELP system_cpu_utilization_ratio Share of time a CPU was not idle since the "
              "last round (system.cpu.utilization)\n"
              "# TYPE system_cpu_utilization_ratio gauge\n"
              "# UNIT system_cpu_utilization_ratio ratio\n"
              "system_cpu_utilization_ratio{host=\"h\"} 0.25 1732468800.123\n"
              "# EOF\n");
}

TEST(PrometheusExposition, KeepsTheNewestValueAndForgetsSeriesNotRefreshed) {
    Exposition exposition({.expire_ns = 60 * kSecond, .max_series = 100});
    Sample newer("a", {{"host", "h"}}, 2, kT0 + kSecond);
    Sample older("a", {{"host", "h"}}, 1, kT0);  // a retried batch arriving late
    Sample other("b", {{"host", "h"}}, 5, kT0);
    exposition.update(newer.raw, kT0);
    exposition.update(older.raw, kT0);
    exposition.update(other.raw, kT0);
    Sample refreshed("b", {{"host", "h"}}, 6, kT0 + 50 * kSecond);
    exposition.update(refreshed.raw, kT0 + 50 * kSecond);
    std::string text;
    exposition.render(Format::text, kT0 + 70 * kSecond, text);  // "a" is 70 s old: left out
    EXPECT_EQ(text, "# HELP b dmon metric (b)\n# TYPE b gauge\nb{host=\"h\"} 6 1732468850123\n");
    EXPECT_EQ(exposition.series(), 2u);
    EXPECT_EQ(exposition.expire(kT0 + 70 * kSecond), 1u);
    EXPECT_EQ(exposition.series(), 1u);
    exposition.render(Format::text, kT0, text);
    EXPECT_EQ(text.find("a{"), std::string::npos);
}

TEST(PrometheusExposition, NewSeriesPastTheLimitAndTypeConflictsAreRefused) {
    Exposition exposition({.max_series = 2});
    Sample one("m", {{"i", "1"}}, 1, kT0), two("m", {{"i", "2"}}, 1, kT0),
        three("m", {{"i", "3"}}, 1, kT0);
    EXPECT_EQ(exposition.update(one.raw, kT0), Exposition::Update::stored);
    EXPECT_EQ(exposition.update(two.raw, kT0), Exposition::Update::stored);
    EXPECT_EQ(exposition.update(three.raw, kT0), Exposition::Update::refused_max_series);
    EXPECT_EQ(exposition.update(one.raw, kT0), Exposition::Update::stored);  // known: updated
    EXPECT_EQ(exposition.series(), 2u);
    // "x.total" as a counter is family "x"; a gauge "x" would be the same family.
    Exposition mixed({});
    Sample counter("x.total", {}, 1, kT0, DMON_COUNTER), gauge("x", {}, 1, kT0);
    EXPECT_EQ(mixed.update(counter.raw, kT0), Exposition::Update::stored);
    EXPECT_EQ(mixed.update(gauge.raw, kT0), Exposition::Update::refused_type_conflict);
}

TEST(PrometheusExposition, TheScraperChoosesTheFormat) {
    EXPECT_EQ(negotiate("application/openmetrics-text;version=1.0.0,application/"
                        "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,"
                        "*/*;q=0.1"),
              Format::openmetrics);
    EXPECT_EQ(negotiate("text/plain"), Format::text);
    EXPECT_EQ(negotiate(""), Format::text);
}

TEST(RemoteWrite, TheRequestHoldsEverySeriesInTimeOrderWithSortedLabels) {
    Sample later("system.cpu.time", {{"host", "web-1"}, {"state", "user"}}, 13, kT0 + kSecond,
                 DMON_COUNTER);
    Sample earlier("system.cpu.time", {{"host", "web-1"}, {"state", "user"}}, 12, kT0,
                   DMON_COUNTER);
    Sample memory("system.memory.limit", {{"host", "web-1"}}, 1024, kT0);
    std::vector<dmon_sample> batch{later.raw, earlier.raw, memory.raw};
    const EncodedRequest request =
        encode_write_request(batch.data(), batch.size(), sizeof(dmon_sample), true);
    EXPECT_EQ(request.series, 2u);
    EXPECT_EQ(request.samples, 3u);
    EXPECT_EQ(decode_write_request_text(request.body),
              "system_cpu_time_seconds_total{host=\"web-1\",state=\"user\"} 12 1732468800123\n"
              "system_cpu_time_seconds_total{host=\"web-1\",state=\"user\"} 13 1732468801123\n"
              "system_memory_limit_bytes{host=\"web-1\"} 1024 1732468800123\n"
              "# system_cpu_time_seconds COUNTER seconds\n"
              "# system_memory_limit_bytes GAUGE bytes\n");
    // Without metadata, and a sample_size larger than this build's struct (a newer host).
    struct Wider {
        dmon_sample sample;
        uint64_t appended_field;
    };
    std::vector<Wider> wide{{memory.raw, 7}};
    const EncodedRequest plain =
        encode_write_request(&wide[0].sample, wide.size(), sizeof(Wider), false);
    EXPECT_EQ(decode_write_request_text(plain.body),
              "system_memory_limit_bytes{host=\"web-1\"} 1024 1732468800123\n");
    EXPECT_EQ(decode_write_request_text("not snappy at all"), "");
}

TEST(RemoteWrite, AMeasuredNaNIsNotPrometheusStaleMarker) {
    Sample nan("custom.nan", {{"host", "h"}}, std::nan(""), kT0);
    const EncodedRequest request = encode_write_request(&nan.raw, 1, sizeof(dmon_sample), false);
    EXPECT_EQ(decode_write_request_text(request.body),
              "custom_nan{host=\"h\"} nan 1732468800123\n");
}

// docs/metrics.md's table "Prometheus names" lists every shipped metric with the names the
// sinks give it: the docs and the code cannot drift apart.
TEST(PrometheusNames, TheDocsTableMatchesTheCode) {
    std::ifstream in(DMON_SOURCE_DIR "/docs/metrics.md");
    ASSERT_TRUE(in) << "docs/metrics.md";
    std::map<std::string, std::string> documented;  // dmon name -> Prometheus name
    std::string line;
    bool in_table = false;
    while (std::getline(in, line)) {
        if (line.rfind("## Prometheus names", 0) == 0) {
            in_table = true;
            continue;
        }
        if (in_table && line.rfind("## ", 0) == 0)
            break;
        // | `system.cpu.time` | counter | `system_cpu_time_seconds_total` | ... |
        if (!in_table || line.rfind("| `", 0) != 0)
            continue;
        std::vector<std::string> cells;
        std::stringstream row(line.substr(1));
        std::string cell;
        while (std::getline(row, cell, '|')) {
            const size_t a = cell.find('`'), b = cell.rfind('`');
            cells.push_back(a != std::string::npos && b > a ? cell.substr(a + 1, b - a - 1) : cell);
        }
        ASSERT_GE(cells.size(), 3u) << line;
        const std::string& type = cells[1];
        const auto sample_type =
            type.find("counter") != std::string::npos ? DMON_COUNTER : DMON_GAUGE;
        const MetricInfo* info = find_metric(cells[0]);
        ASSERT_NE(info, nullptr) << cells[0] << " is in the docs but not in metric_catalog.hpp";
        EXPECT_EQ(cells[2], metric_name(info->name, info->unit, sample_type)) << line;
        documented[cells[0]] = cells[2];
    }
    for (const MetricInfo& info : kShippedMetrics)
        EXPECT_TRUE(documented.count(std::string(info.name)))
            << info.name << " is missing from docs/metrics.md's Prometheus table";
}

}  // namespace
}  // namespace dmon::plugins::prometheus
