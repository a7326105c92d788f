#include <dmon/store/writer.hpp>

#include "points.hpp"

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <optional>

namespace dmon::store {
namespace {

std::string_view to_view(dmon_str s) {
    return {s.data, s.size};
}
std::string_view type_name(uint32_t type) {
    return type == DMON_COUNTER ? "counter" : "gauge";
}
const dmon_sample& sample_at(const dmon_batch& batch, size_t i) {
    return *reinterpret_cast<const dmon_sample*>(
        reinterpret_cast<const unsigned char*>(batch.samples) + i * batch.sample_size);
}
int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

using points::merge_keep_stored;
using points::sort_unique;

// The statements one seal needs, prepared once per seal.
class Sealer {
  public:
    Sealer(Database& db, uint32_t chunk_samples, SealResult& result)
        : db_(db),
          chunk_samples_(std::max<uint32_t>(2, chunk_samples)),
          result_(result),
          get_open_(db.prepare(
              "SELECT start_ts, end_ts, count, data, state FROM open_chunks WHERE series_id = ?")),
          put_open_(db.prepare(
              "INSERT OR REPLACE INTO open_chunks(series_id, start_ts, end_ts, count, data, "
              "state) VALUES(?, ?, ?, ?, ?, ?)")),
          drop_open_(db.prepare("DELETE FROM open_chunks WHERE series_id = ?")),
          insert_chunk_(db.prepare("INSERT INTO chunks(series_id, start_ts, end_ts, count, data) "
                                   "VALUES(?, ?, ?, ?, ?)")),
          last_closed_end_(db.prepare("SELECT max(end_ts) FROM chunks WHERE series_id = ?")),
          overlapping_(db.prepare(
              "SELECT id, data FROM chunks WHERE series_id = ?1 AND end_ts >= ?2 AND start_ts <= "
              "?3 ORDER BY end_ts")),
          drop_chunk_(db.prepare("DELETE FROM chunks WHERE id = ?")),
          latest_(db.prepare(
              "INSERT INTO latest(series_id, ts, value) VALUES(?1, ?2, ?3) ON CONFLICT(series_id) "
              "DO UPDATE SET ts = excluded.ts, value = excluded.value WHERE excluded.ts > ts")) {}

    // `points`: the series' head points, sorted and unique.
    void seal_series(int64_t series, std::vector<Point>& points) {
        const int64_t duplicates_before = result_.duplicates;
        const auto incoming = static_cast<int64_t>(points.size());
        std::optional<Chunk> open = load_open(series);
        const bool had_open = open.has_value();
        std::vector<Point> late;  // before the open chunk: they go into the closed chunks
        if (open && points.front().ts <= open->end_ts) {
            // Late points reach into the open chunk: decode it and merge (rare; agents send in
            // order, but a spool replayed after a long outage may not).
            std::vector<Point> later;
            for (const auto& p : points)
                (p.ts < open->start_ts ? late : later).push_back(p);
            points = merge_keep_stored(decode_chunk(open->data), later, result_.duplicates);
            open.reset();
        } else if (!open) {
            last_closed_end_.reset();
            last_closed_end_.bind(0, series);
            if (last_closed_end_.step() && !last_closed_end_.column_is_null(0)) {
                const int64_t end = last_closed_end_.column_int(0);
                if (points.front().ts <= end) {
                    const auto first_new =
                        std::upper_bound(points.begin(), points.end(), end,
                                         [](int64_t t, const Point& p) { return t < p.ts; });
                    late.assign(points.begin(), first_new);
                    points.erase(points.begin(), first_new);
                }
            }
        }
        if (!late.empty())
            merge_into_closed(series, late);
        append(series, open, points);
        result_.stored += incoming - (result_.duplicates - duplicates_before);
        if (open)
            write_open(series, *open);
        else if (had_open) {
            drop_open_.reset();
            drop_open_.bind(0, series).step();
        }
        ++result_.series;
    }

    void update_latest(int64_t series, const Point& newest) {
        latest_.reset();
        latest_.bind(0, series).bind(1, newest.ts).bind(2, newest.value).step();
    }

  private:
    std::optional<Chunk> load_open(int64_t series) {
        get_open_.reset();
        get_open_.bind(0, series);
        if (!get_open_.step())
            return std::nullopt;
        Chunk chunk;
        chunk.start_ts = get_open_.column_int(0);
        chunk.end_ts = get_open_.column_int(1);
        chunk.count = static_cast<uint32_t>(get_open_.column_int(2));
        chunk.data.assign(get_open_.column_blob(3));
        chunk.state.assign(get_open_.column_blob(4));
        return chunk;
    }

    // Appends points (sorted, after everything in `open`) to the open chunk, closing it each
    // time it is full.
    void append(int64_t series, std::optional<Chunk>& open, const std::vector<Point>& points) {
        size_t i = 0;
        const std::span<const Point> all(points);
        while (i < points.size()) {
            if (!open) {
                const size_t take = std::min<size_t>(chunk_samples_, points.size() - i);
                open = encode_chunk(all.subspan(i, take));
                i += take;
            } else {
                const size_t take =
                    std::min<size_t>(chunk_samples_ - open->count, points.size() - i);
                if (!append_to_chunk(*open, all.subspan(i, take))) {
                    // A value the chunk's codec cannot hold (a fraction in an integer chunk):
                    // encode it all again with a codec that fits everything.
                    std::vector<Point> joined = decode_chunk(open->data);
                    joined.insert(joined.end(), points.begin() + static_cast<ptrdiff_t>(i),
                                  points.begin() + static_cast<ptrdiff_t>(i + take));
                    open = encode_chunk(joined);
                }
                i += take;
            }
            if (open->count >= chunk_samples_) {
                insert_closed(series, *open);
                open.reset();
            }
        }
    }

    // Late points go into the closed chunks whose range they fall in: those chunks are decoded,
    // merged with them and written again, so chunks of a series never overlap.
    void merge_into_closed(int64_t series, const std::vector<Point>& late) {
        overlapping_.reset();
        overlapping_.bind(0, series).bind(1, late.front().ts).bind(2, late.back().ts);
        std::vector<Point> stored;
        std::vector<int64_t> replaced;
        while (overlapping_.step()) {
            replaced.push_back(overlapping_.column_int(0));
            decode_chunk(overlapping_.column_blob(1), stored);
        }
        for (const int64_t id : replaced) {
            drop_chunk_.reset();
            drop_chunk_.bind(0, id).step();
        }
        const std::vector<Point> merged = merge_keep_stored(stored, late, result_.duplicates);
        const std::span<const Point> all(merged);
        for (size_t first = 0; first < merged.size(); first += chunk_samples_)
            insert_closed(series,
                          encode_chunk(all.subspan(
                              first, std::min<size_t>(chunk_samples_, merged.size() - first))));
    }

    void insert_closed(int64_t series, const Chunk& chunk) {
        insert_chunk_.reset();
        insert_chunk_.bind(0, series)
            .bind(1, chunk.start_ts)
            .bind(2, chunk.end_ts)
            .bind(3, static_cast<int64_t>(chunk.count))
            .bind_blob(4, chunk.data)
            .step();
        ++result_.chunks;
    }
    void write_open(int64_t series, const Chunk& chunk) {
        put_open_.reset();
        put_open_.bind(0, series)
            .bind(1, chunk.start_ts)
            .bind(2, chunk.end_ts)
            .bind(3, static_cast<int64_t>(chunk.count))
            .bind_blob(4, chunk.data)
            .bind_blob(5, chunk.state)
            .step();
        ++result_.chunks;
    }

    Database& db_;
    uint32_t chunk_samples_;
    SealResult& result_;
    Statement get_open_, put_open_, drop_open_, insert_chunk_, last_closed_end_, overlapping_,
        drop_chunk_, latest_;
};

}  // namespace

SealResult seal_head(Database& db, uint32_t chunk_samples,
                     const std::function<void(std::string_view)>& step) {
    auto note = [&](std::string_view what) {
        if (step)
            step(what);
    };
    SealResult result;
    Transaction transaction(db);
    note("begun");
    int64_t through = 0;
    {
        auto last = db.prepare("SELECT max(id) FROM head");
        if (!last.step() || last.column_is_null(0)) {
            transaction.commit();
            return result;
        }
        through = last.column_int(0);
    }
    // The head in arrival order, per series.
    std::unordered_map<int64_t, std::vector<Point>> by_series;
    {
        auto rows = db.prepare("SELECT id, data FROM head WHERE id <= ? ORDER BY id");
        rows.bind(0, through);
        while (rows.step()) {
            try {
                decode_head(rows.column_blob(1), [&](int64_t series, const Point& point) {
                    by_series[series].push_back(point);
                    ++result.head_samples;
                });
            } catch (const CorruptChunk& e) {
                throw CorruptChunk(db.path() + ": head row " + std::to_string(rows.column_int(0)) +
                                   " does not decode: " + e.what());
            }
        }
    }
    note("read");
    std::vector<int64_t> ids;
    ids.reserve(by_series.size());
    for (const auto& [id, points] : by_series)
        ids.push_back(id);
    std::sort(ids.begin(), ids.end());  // chunk rows of neighbouring series land together
    Sealer sealer(db, chunk_samples, result);
    bool first = true;
    for (const int64_t id : ids) {
        std::vector<Point>& points = by_series[id];
        result.duplicates += sort_unique(points);
        const Point newest = points.back();
        sealer.seal_series(id, points);
        sealer.update_latest(id, newest);
        std::vector<Point>().swap(points);
        if (first) {
            first = false;
            note("series");
        }
    }
    note("chunks");
    {
        auto drop = db.prepare("DELETE FROM head WHERE id <= ?");
        drop.bind(0, through).step();
    }
    note("head deleted");
    transaction.commit();
    note("committed");
    return result;
}

namespace {
Database open_for_writing(const std::string& path) {
    const auto folder = std::filesystem::path(path).parent_path();
    if (!folder.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(folder, ec);
        if (ec)
            throw DatabaseError(
                path + ": cannot create the folder " + folder.string() + ": " + ec.message(),
                SQLITE_CANTOPEN);
    }
    return Database(path, true);
}
}  // namespace

SampleWriter::SampleWriter(const Settings& settings)
    : db_(open_for_writing(settings.path)),
      retention_(settings.retention),
      max_series_per_host_(settings.max_series_per_host),
      max_series_(settings.max_series),
      series_cache_limit_(std::max<size_t>(1, settings.series_cache)),
      chunk_samples_(std::max<uint32_t>(2, settings.chunk_samples)),
      seal_samples_(std::max<int64_t>(1, settings.seal_samples)),
      seal_interval_ns_(settings.seal_interval.count()),
      ready_(set_up(db_, settings, migration_report_)),
      find_batch_(db_.prepare("SELECT 1 FROM batches WHERE message_id = ?")),
      insert_batch_(db_.prepare("INSERT INTO batches(message_id, received_at) VALUES(?, ?)")),
      insert_series_(
          db_.prepare("INSERT OR IGNORE INTO series(host, name, labels, type) VALUES(?, ?, ?, ?)")),
      find_series_(db_.prepare(
          "SELECT id FROM series WHERE host = ? AND name = ? AND labels = ? AND type = ?")),
      insert_head_(db_.prepare("INSERT INTO head(count, written_at, data) VALUES(?, ?, ?)")),
      count_host_series_(db_.prepare("SELECT count(*) FROM series WHERE host = ?")) {
    load_head_size();
}

bool SampleWriter::set_up(Database& db, const Settings& settings, std::string& report) {
    db.exec("PRAGMA journal_mode=WAL");
    // A big seal or a migration grows the WAL; give the space back after the checkpoint.
    db.exec("PRAGMA journal_size_limit=67108864");
    if (schema_version(db) == 1) {
        MigrationOptions options;
        options.backup = settings.backup_before_migration;
        options.chunk_samples = settings.chunk_samples;
        options.progress = settings.progress;
        report = migrate_schema(db, options);
    }
    check_schema(db, true);
    db.exec(settings.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    // Sealing touches a chunk row and a last-value row per series: keep 64 MiB of pages in
    // memory rather than SQLite's 2 MiB default.
    db.exec("PRAGMA cache_size=-65536");
    // `dmonctl compact` seals with the chunk size the writer uses.
    record_chunk_samples(db, std::max<uint32_t>(2, settings.chunk_samples));
    return true;
}

void SampleWriter::load_head_size() {
    auto stmt = db_.prepare("SELECT coalesce(sum(count), 0), min(written_at) FROM head");
    if (stmt.step()) {
        head_samples_ = stmt.column_int(0);
        oldest_head_ns_ = stmt.column_is_null(1) ? 0 : stmt.column_int(1);
    }
}

int64_t SampleWriter::series_count() {
    if (total_series_ < 0) {
        auto count = db_.prepare("SELECT count(*) FROM series");
        total_series_ = count.step() ? count.column_int(0) : 0;
    }
    return total_series_;
}

int64_t& SampleWriter::host_series(std::string_view host) {
    auto it = host_series_.find(std::string(host));
    if (it == host_series_.end()) {
        count_host_series_.reset();
        count_host_series_.bind(0, host);
        const int64_t count = count_host_series_.step() ? count_host_series_.column_int(0) : 0;
        count_host_series_.reset();
        it = host_series_.emplace(std::string(host), count).first;
    }
    return it->second;
}

int64_t SampleWriter::series_id(std::string_view host, std::string_view name,
                                std::string_view labels, std::string_view type, Result& result) {
    key_.assign(host)
        .append(1, '\0')
        .append(name)
        .append(1, '\0')
        .append(labels)
        .append(1, '\0')
        .append(type);
    if (auto it = series_cache_.find(key_); it != series_cache_.end())
        return it->second;
    if (auto it = previous_cache_.find(key_); it != previous_cache_.end()) {
        const int64_t id = it->second;
        remember(id);  // still active: kept into the next generation
        return id;
    }
    find_series_.reset();
    find_series_.bind(0, host).bind(1, name).bind(2, labels).bind(3, type);
    int64_t id = 0;
    if (find_series_.step()) {
        id = find_series_.column_int(0);
        find_series_.reset();
    } else {
        // A new series: within the bounds, or refused while the existing ones keep flowing.
        int64_t& of_host = host_series(host);
        if (max_series_per_host_ > 0 && of_host >= max_series_per_host_) {
            ++result.refused_per_host;
            result.refused_host.assign(host);
            return 0;
        }
        if (max_series_ > 0 && series_count() >= max_series_) {
            ++result.refused_total;
            result.refused_host.assign(host);
            return 0;
        }
        insert_series_.reset();
        insert_series_.bind(0, host).bind(1, name).bind(2, labels).bind(3, type).step();
        id = sqlite3_last_insert_rowid(db_.handle());
        ++of_host;
        ++total_series_;
    }
    remember(id);
    added_to_cache_.push_back(key_);
    return id;
}

// Two generations: when the current one is full it becomes the previous one (the one before
// is dropped), and a series found there moves back. Series active since the last turn stay
// cached, so a working set up to the limit never misses (a cache cleared when full missed on
// every series once per turn); memory stays within twice the limit.
void SampleWriter::remember(int64_t id) {
    if (series_cache_.size() >= series_cache_limit_) {
        previous_cache_.swap(series_cache_);
        series_cache_.clear();
    }
    series_cache_.emplace(key_, id);
}

SampleWriter::Result SampleWriter::write(const dmon_batch& batch) {
    Result result;
    added_to_cache_.clear();
    head_.clear();
    // Which samples belong to an origin that is already stored (a redelivered message).
    std::vector<std::pair<size_t, size_t>> skip;  // [first, first + count)
    const dmon_origin* origins =
        batch.struct_size >= offsetof(dmon_batch, origin_count) + sizeof(size_t) ? batch.origins
                                                                                 : nullptr;
    const size_t origin_count = origins != nullptr ? batch.origin_count : 0;
    const int64_t now = now_ns();
    try {
        Transaction transaction(db_);
        for (size_t i = 0; i < origin_count; ++i) {
            const std::string_view id = to_view(origins[i].id);
            find_batch_.reset();
            find_batch_.bind(0, id);
            const bool stored = find_batch_.step();
            find_batch_.reset();  // no statement left reading: checkpoints need that
            if (stored) {
                skip.emplace_back(origins[i].first, origins[i].first + origins[i].count);
                ++result.skipped_batches;
                continue;
            }
            insert_batch_.reset();
            insert_batch_.bind(0, id).bind(1, now).step();
        }
        size_t next_skip = 0;
        std::string_view host;
        for (size_t i = 0; i < batch.sample_count; ++i) {
            while (next_skip < skip.size() && i >= skip[next_skip].second)
                ++next_skip;
            if (next_skip < skip.size() && i >= skip[next_skip].first)
                continue;
            const dmon_sample& sample = sample_at(batch, i);
            series_labels(sample, labels_, host);
            const int64_t id =
                series_id(host, to_view(sample.name), labels_, type_name(sample.type), result);
            if (id == 0)
                continue;  // a new series past a limit: refused, counted in result
            head_.add(id, sample.timestamp_ns, sample.value);
        }
        if (head_.count() > 0) {
            insert_head_.reset();
            insert_head_.bind(0, head_.count()).bind(1, now).bind_blob(2, head_.data()).step();
        }
        transaction.commit();
    } catch (...) {
        // The transaction rolled back: series ids created in it no longer exist, and the
        // counts are read again when next needed.
        for (const auto& key : added_to_cache_) {
            series_cache_.erase(key);
            previous_cache_.erase(key);
        }
        host_series_.clear();
        total_series_ = -1;
        throw;
    }
    result.stored = static_cast<size_t>(head_.count());
    if (head_.count() > 0) {
        if (head_samples_ == 0)
            oldest_head_ns_ = now;
        head_samples_ += head_.count();
    }
    return result;
}

bool SampleWriter::seal_due(int64_t now) {
    // A seal costs a few statements per series it touches, whatever the number of points: with
    // many series, wait for about 16 points a series (up to 16 x seal_samples), so the work a
    // point costs does not grow with the number of series.
    const int64_t enough = std::clamp(16 * series_count(), seal_samples_, 16 * seal_samples_);
    return head_samples_ >= enough ||
           (head_samples_ > 0 && now - oldest_head_ns_ >= seal_interval_ns_);
}

SealResult SampleWriter::seal() {
    const SealResult result = seal_head(db_, chunk_samples_);
    head_samples_ = 0;
    oldest_head_ns_ = 0;
    return result;
}

int64_t SampleWriter::apply_retention(int64_t now) {
    if (retention_.count() <= 0)
        return 0;
    // Sealed first: a series whose points are all in the head would otherwise look empty.
    seal();
    const int64_t cutoff = now - retention_.count();
    int64_t removed = 0;
    Transaction transaction(db_);
    // Whole chunks, series by series through the (series_id, end_ts) index.
    auto ids = db_.prepare("SELECT id FROM series");
    auto old_chunks = db_.prepare(
        "SELECT coalesce(sum(count), 0) FROM chunks WHERE series_id = ?1 AND end_ts < ?2");
    auto remove = db_.prepare("DELETE FROM chunks WHERE series_id = ?1 AND end_ts < ?2");
    while (ids.step()) {
        old_chunks.reset();
        old_chunks.bind(0, ids.column_int(0)).bind(1, cutoff);
        if (old_chunks.step() && old_chunks.column_int(0) > 0) {
            removed += old_chunks.column_int(0);
            remove.reset();
            remove.bind(0, ids.column_int(0)).bind(1, cutoff).step();
        }
    }
    {
        auto old_open =
            db_.prepare("SELECT coalesce(sum(count), 0) FROM open_chunks WHERE end_ts < ?");
        old_open.bind(0, cutoff);
        if (old_open.step())
            removed += old_open.column_int(0);
        auto drop_open = db_.prepare("DELETE FROM open_chunks WHERE end_ts < ?");
        drop_open.bind(0, cutoff).step();
    }
    auto old_batches = db_.prepare("DELETE FROM batches WHERE received_at < ?");
    old_batches.bind(0, cutoff).step();
    // A series with no points left goes too: series are what the cardinality limits count,
    // and a host that stopped reporting must not hold its share forever.
    db_.exec(
        "DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM chunks WHERE series_id = series.id) "
        "AND NOT EXISTS (SELECT 1 FROM open_chunks WHERE series_id = series.id)");
    const bool series_removed = sqlite3_changes(db_.handle()) > 0;
    db_.exec("DELETE FROM latest WHERE series_id NOT IN (SELECT id FROM series)");
    transaction.commit();
    if (series_removed) {
        series_cache_.clear();
        previous_cache_.clear();
        host_series_.clear();
        total_series_ = -1;
    }
    return removed;
}

}  // namespace dmon::store
