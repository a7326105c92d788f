#pragma once

#include <dmon/plugin.hpp>

#include "sqlite_store/database.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace dmon::plugins::sqlite_store {

// The schema this code writes and reads (docs/storage.md). Bumped on any incompatible change.
inline constexpr int kSchemaVersion = 1;

// One stored series point, as dmonctl shows it.
struct Row {
    std::string host;
    std::string name;
    std::string labels;  // "cpu=total,state=user": the labels other than host, in order
    std::string type;    // "gauge" or "counter"
    int64_t timestamp_ns = 0;
    double value = 0;
};

struct MetricInfo {
    std::string name;
    std::string type;
    int64_t series = 0;
    int64_t hosts = 0;
};

// Opens a database file and checks (or creates) its schema. Throws DatabaseError.
void check_schema(Database& db, bool create);

// Writes batches into the store: one transaction per batch, series resolved through an
// in-memory cache, batches whose origin (AMQP message_id) is already stored skipped inside the
// same transaction, so a redelivered message is stored exactly once.
class SampleWriter {
  public:
    struct Settings {
        std::string path;
        std::chrono::nanoseconds retention{0};  // 0: keep everything
        bool synchronous_full = true;           // fsync each commit (survives power loss)
        // Cardinality bounds: a sample of a new series past them is refused (existing series
        // keep flowing). 0: no bound.
        int64_t max_series_per_host = 10'000;
        int64_t max_series = 1'000'000;
        size_t series_cache = 100'000;  // series ids kept in memory at most
    };
    struct Result {
        size_t stored = 0;
        size_t duplicate_samples = 0;  // same series and timestamp already stored
        size_t skipped_batches = 0;    // origins already stored (redeliveries)
        size_t refused_per_host = 0;   // samples of new series past max_series_per_host
        size_t refused_total = 0;      // samples of new series past max_series
        std::string refused_host;      // one host that was refused, for the log
    };

    explicit SampleWriter(const Settings& settings);
    Result write(const dmon_batch& batch);
    // Removes samples (and remembered message ids) older than the retention, then the series
    // left without samples. Returns sample rows removed.
    int64_t apply_retention(int64_t now_ns);
    int64_t series_count();  // what max_series counts
    size_t cached_series() const { return series_cache_.size(); }
    const std::string& path() const { return db_.path(); }
    Database& database() { return db_; }  // tests: simulate a full disk with max_page_count

  private:
    // The series' id, creating it if the limits allow; 0 when refused (counted in `result`).
    int64_t series_id(std::string_view host, std::string_view name, std::string_view labels,
                      std::string_view type, Result& result);
    int64_t& host_series(std::string_view host);  // series of one host, loaded on first use

    static bool set_up(Database& db, const Settings& settings);  // WAL, schema, sync mode

    Database db_;
    std::chrono::nanoseconds retention_;
    int64_t max_series_per_host_, max_series_;
    size_t series_cache_limit_;
    bool ready_;  // set_up() ran: statements below are prepared against the schema
    Statement find_batch_, insert_batch_, insert_series_, find_series_, insert_sample_,
        count_host_series_;
    std::unordered_map<std::string, int64_t> series_cache_;
    // Series counts, per host and in all, as of the last commit; -1: not loaded. Bounded by
    // the number of hosts, which max_series bounds.
    std::unordered_map<std::string, int64_t> host_series_;
    int64_t total_series_ = -1;
    std::vector<std::string> added_to_cache_;  // undone if the transaction rolls back
    std::string key_, labels_;
};

// Read-only queries for dmonctl.
class SampleReader {
  public:
    explicit SampleReader(const std::string& path);
    std::vector<std::string> hosts();
    std::vector<MetricInfo> metrics();
    std::vector<Row> latest(const std::optional<std::string>& host);
    // Points of one metric since `since_ns`; with `rate`, counters become per-second rates
    // between consecutive points (a counter that went down, a reset, gives no rate for that step).
    std::vector<Row> query(const std::string& metric, const std::optional<std::string>& host,
                           int64_t since_ns, bool rate);

  private:
    Database db_;
};

// "cpu=total,state=user" from a sample's labels, leaving out `host` (returned separately).
void canonical_labels(const dmon_sample& sample, std::string& labels, std::string_view& host);

}  // namespace dmon::plugins::sqlite_store
