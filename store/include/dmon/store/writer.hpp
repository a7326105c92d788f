#pragma once
#include <dmon/plugin.h>
#include <dmon/store/chunk.hpp>
#include <dmon/store/database.hpp>
#include <dmon/store/head.hpp>
#include <dmon/store/schema.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dmon::store {

struct SealResult {
    int64_t head_samples = 0;  // read from the head
    int64_t stored = 0;        // new points now in chunks
    int64_t duplicates = 0;    // same series and timestamp as a point stored before: dropped
    int64_t series = 0;        // series touched
    int64_t chunks = 0;        // chunks written (closed or open)
};

// Moves every head row into chunks, in one transaction: a crash at any point leaves either the
// head as it was or the chunks and no head, never both or neither. Safe beside a running writer
// (SQLite lets one writer in at a time; nothing of the chunks is kept in memory between calls).
// `step`, for tests, is called after each step ("begun", "read", "series", "chunks",
// "head deleted", "committed").
SealResult seal_head(Database& db, uint32_t chunk_samples,
                     const std::function<void(std::string_view step)>& step = {});

// Writes batches into the store: one transaction per batch appends the batch's samples to the
// head and records its origins (AMQP message ids); a batch whose origin is already stored is
// skipped in the same transaction, so a redelivered message is stored exactly once.
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
        size_t series_cache = 100'000;                  // series ids kept in memory at most
        uint32_t chunk_samples = kDefaultChunkSamples;  // points per chunk
        int64_t seal_samples = 250'000;  // seal when the head holds this many (see seal_due)
        std::chrono::nanoseconds seal_interval{std::chrono::seconds(10)};  // or is this old
        bool backup_before_migration = true;
        std::function<void(const std::string&)> progress;  // migration progress lines
    };
    struct Result {
        size_t stored = 0;            // samples appended to the head
        size_t skipped_batches = 0;   // origins already stored (redeliveries)
        size_t refused_per_host = 0;  // samples of new series past max_series_per_host
        size_t refused_total = 0;     // samples of new series past max_series
        std::string refused_host;     // one host that was refused, for the log
    };

    explicit SampleWriter(const Settings& settings);
    Result write(const dmon_batch& batch);
    // The head is old enough (seal_interval) or full: seal_samples, or 16 points a series when
    // there are more series than seal_samples / 16 (at most 16 x seal_samples).
    bool seal_due(int64_t now_ns);
    SealResult seal();
    // Seals, then removes chunks wholly older than the retention, remembered message ids as
    // old, and the series left without points. Returns points removed.
    int64_t apply_retention(int64_t now_ns);
    int64_t series_count();  // what max_series counts
    size_t cached_series() const { return series_cache_.size() + previous_cache_.size(); }
    const std::string& path() const { return db_.path(); }
    const std::string& migration_report() const { return migration_report_; }
    Database& database() { return db_; }  // tests: simulate a full disk with max_page_count

  private:
    // The series' id, creating it if the limits allow; 0 when refused (counted in `result`).
    int64_t series_id(std::string_view host, std::string_view name, std::string_view labels,
                      std::string_view type, Result& result);
    int64_t& host_series(std::string_view host);  // series of one host, loaded on first use
    void remember(int64_t id);                    // caches key_ -> id

    static bool set_up(Database& db, const Settings& settings, std::string& report);
    void load_head_size();

    Database db_;
    std::string migration_report_;
    std::chrono::nanoseconds retention_;
    int64_t max_series_per_host_, max_series_;
    size_t series_cache_limit_;
    uint32_t chunk_samples_;
    int64_t seal_samples_;
    int64_t seal_interval_ns_;
    bool ready_;  // set_up() ran: statements below are prepared against the schema
    Statement find_batch_, insert_batch_, insert_series_, find_series_, insert_head_,
        count_host_series_;
    std::unordered_map<std::string, int64_t> series_cache_, previous_cache_;
    // Series counts, per host and in all, as of the last commit; -1: not loaded. Bounded by
    // the number of hosts, which max_series bounds.
    std::unordered_map<std::string, int64_t> host_series_;
    int64_t total_series_ = -1;
    std::vector<std::string> added_to_cache_;  // undone if the transaction rolls back
    std::string key_, labels_;
    HeadWriter head_;
    // The head as this writer last knew it (another process may have sealed it since: then
    // the next seal just comes early).
    int64_t head_samples_ = 0;
    int64_t oldest_head_ns_ = 0;  // when the oldest unsealed row was written
};

}  // namespace dmon::store
