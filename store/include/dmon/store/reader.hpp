#pragma once
#include <dmon/store/chunk.hpp>
#include <dmon/store/database.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dmon::store {

// One stored series point, as dmonctl shows it.
struct Row {
    std::string host;
    std::string name;
    std::string labels;  // "cpu=total,state=user": the labels other than host, in order
    std::string type;    // "gauge", "counter", or "rate" for a counter turned into a rate
    int64_t timestamp_ns = 0;
    double value = 0;
};

// One bucket of a stepped query: the points with bucket start <= ts < bucket start + step.
struct StepRow {
    std::string host, name, labels, type;
    int64_t timestamp_ns = 0;  // the bucket's start, a multiple of the step since the epoch
    double min = 0, mean = 0, max = 0, last = 0;
    int64_t count = 0;
};

struct MetricInfo {
    std::string name;
    std::string type;
    int64_t series = 0;
    int64_t hosts = 0;
};

struct StoreStats {
    int schema_version = 0;
    int64_t series = 0;
    int64_t samples = 0;       // in chunks and in the head (the head may still hold duplicates)
    int64_t head_samples = 0;  // not sealed yet
    int64_t chunks = 0;        // closed and open
    int64_t bytes = 0;         // the file and its WAL on disk
    int64_t free_bytes = 0;    // pages inside the file SQLite will reuse
    std::optional<int64_t> oldest_ns, newest_ns;
    double bytes_per_sample() const {
        return samples > 0 ? static_cast<double>(bytes) / static_cast<double>(samples) : 0;
    }
};

struct QueryRange {
    int64_t from_ns = std::numeric_limits<int64_t>::min();
    int64_t to_ns = std::numeric_limits<int64_t>::max();  // inclusive
};

// Read-only queries (dmonctl, dmonctl serve), whatever the store: an SQLite file
// (SampleReader) or a PostgreSQL database (store/postgres). Every call reads one snapshot: a
// write or seal running at the same time is seen wholly or not at all.
class Reader {
  public:
    virtual ~Reader() = default;
    virtual std::vector<std::string> hosts() = 0;
    virtual std::vector<MetricInfo> metrics() = 0;
    // The type of a metric ("gauge", "counter"), or nullopt when the store has no such metric:
    // one index lookup, where metrics() counts every series.
    virtual std::optional<std::string> metric_type(const std::string& metric) = 0;
    // The newest point of every series (of one host, of one metric when `metric` is not empty).
    virtual std::vector<Row> latest(const std::optional<std::string>& host,
                                    const std::string& metric) = 0;
    std::vector<Row> latest(const std::optional<std::string>& host) { return latest(host, ""); }
    // The series of a metric (every metric for ""), of one host or all, in key order;
    // `timestamp_ns` and `value` are left 0.
    virtual std::vector<Row> series(const std::string& metric,
                                    const std::optional<std::string>& host) = 0;
    virtual StoreStats stats() = 0;
    // The newest timestamp of each host's series, by host.
    virtual std::vector<std::pair<std::string, int64_t>> last_seen() = 0;
    // Each series of the metric (every metric for "") with its points in the range (sorted, one
    // per timestamp: the first stored), one call per series in key order, in one snapshot; the
    // row's timestamp and value are left 0, its type is "rate" for a counter turned into rates
    // (`rate`: per-second rates between consecutive points; a reset gives no rate for that
    // step). `wanted`, when given, picks series before their points are read; `visit`
    // returning false stops the scan (a caller's deadline).
    virtual void scan(const std::string& metric, const std::optional<std::string>& host,
                      QueryRange range, bool rate,
                      const std::function<bool(const Row&, const std::vector<Point>&)>& visit,
                      const std::function<bool(const Row&)>& wanted = {}) = 0;

    // Points of one metric (every metric for "") within the range, a row per point.
    std::vector<Row> query(const std::string& metric, const std::optional<std::string>& host,
                           QueryRange range, bool rate);
    // The same points in buckets of `step_ns`: min, mean, max, last and count per bucket.
    std::vector<StepRow> query_steps(const std::string& metric,
                                     const std::optional<std::string>& host, QueryRange range,
                                     int64_t step_ns, bool rate);
};

// The SQLite store (sqlite_store's file).
class SampleReader : public Reader {
  public:
    explicit SampleReader(const std::string& path);
    std::vector<std::string> hosts() override;
    std::vector<MetricInfo> metrics() override;
    std::optional<std::string> metric_type(const std::string& metric) override;
    using Reader::latest;
    // From the last-value table and the head.
    std::vector<Row> latest(const std::optional<std::string>& host,
                            const std::string& metric) override;
    std::vector<Row> series(const std::string& metric,
                            const std::optional<std::string>& host) override;
    StoreStats stats() override;
    std::vector<std::pair<std::string, int64_t>> last_seen() override;
    // Only the chunks that overlap the range are decoded.
    void scan(const std::string& metric, const std::optional<std::string>& host, QueryRange range,
              bool rate, const std::function<bool(const Row&, const std::vector<Point>&)>& visit,
              const std::function<bool(const Row&)>& wanted = {}) override;

  private:
    struct Series {
        int64_t id;
        std::string host, name, labels, type;
    };
    std::vector<Series> find_series(const std::string& metric,
                                    const std::optional<std::string>& host);
    // Each series of the metric with its points in the range, merged from chunks and head.
    // `visit` returns false to stop; `wanted` (may be empty) picks series before decoding.
    template <typename Visit>
    void each_series(const std::string& metric, const std::optional<std::string>& host,
                     QueryRange range, bool rate, Visit&& visit,
                     const std::function<bool(const Row&)>& wanted = {});

    Database db_;
};

// Consecutive counter points as per-second rates; a reset (the value went down) or a repeated
// timestamp gives no rate for that step.
std::vector<Point> counter_rates(const std::vector<Point>& points);
void counter_rates(const std::vector<Point>& points, std::vector<Point>& out);  // out cleared

}  // namespace dmon::store
