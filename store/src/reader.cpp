#include <dmon/store/head.hpp>
#include <dmon/store/reader.hpp>
#include <dmon/store/schema.hpp>

#include "points.hpp"

#include <algorithm>
#include <limits>
#include <filesystem>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace dmon::store {
namespace {

// A read transaction: every statement inside sees the same snapshot of the file.
class Snapshot {
  public:
    explicit Snapshot(Database& db) : db_(db) { db_.exec("BEGIN"); }
    ~Snapshot() { sqlite3_exec(db_.handle(), "COMMIT", nullptr, nullptr, nullptr); }
    Snapshot(const Snapshot&) = delete;
    Snapshot& operator=(const Snapshot&) = delete;

  private:
    Database& db_;
};

// Every point in the head, in arrival order.
template <typename Visit>
void for_each_head_point(Database& db, Visit&& visit) {
    auto rows = db.prepare("SELECT id, data FROM head ORDER BY id");
    while (rows.step()) {
        try {
            decode_head(rows.column_blob(1), visit);
        } catch (const CorruptChunk& e) {
            throw CorruptChunk(db.path() + ": head row " + std::to_string(rows.column_int(0)) +
                               " does not decode: " + e.what());
        }
    }
}

// The head's newest point of each series (what was written since the last seal): what latest()
// and last_seen() add to the last-value table.
std::unordered_map<int64_t, Point> newest_head_points(Database& db) {
    std::unordered_map<int64_t, Point> newest;
    for_each_head_point(db, [&](int64_t series, const Point& point) {
        auto [it, added] = newest.emplace(series, point);
        if (!added && point.ts > it->second.ts)
            it->second = point;
    });
    return newest;
}

// The head's points of the wanted series (all series when `wanted` is null), per series,
// sorted and one per timestamp (the first received).
std::unordered_map<int64_t, std::vector<Point>> read_head(
    Database& db, const std::unordered_set<int64_t>* wanted) {
    std::unordered_map<int64_t, std::vector<Point>> out;
    for_each_head_point(db, [&](int64_t series, const Point& point) {
        if (wanted == nullptr || wanted->count(series) > 0)
            out[series].push_back(point);
    });
    for (auto& [series, series_points] : out)
        points::sort_unique(series_points);
    return out;
}

// Stored points (sorted, unique) merged with head points: a timestamp stored wins.
void merge_head(std::vector<Point>& stored, const std::vector<Point>& head) {
    if (head.empty())
        return;
    int64_t duplicates = 0;
    stored = points::merge_keep_stored(stored, head, duplicates);
}

}  // namespace

std::vector<Point> counter_rates(const std::vector<Point>& points) {
    std::vector<Point> out;
    counter_rates(points, out);
    return out;
}

void counter_rates(const std::vector<Point>& points, std::vector<Point>& out) {
    out.clear();
    for (size_t i = 1; i < points.size(); ++i) {
        const Point& a = points[i - 1];
        const Point& b = points[i];
        if (b.value >= a.value && b.ts > a.ts)
            out.push_back({b.ts, (b.value - a.value) * 1e9 /
                                     (static_cast<double>(b.ts) - static_cast<double>(a.ts))});
    }
}

SampleReader::SampleReader(const std::string& path) : db_(path, Database::ReadOnly{}) {
    check_schema(db_, false);
    // A reader that lives long (dmonctl serve) reads the same chunks again and again: mapped
    // pages are not copied into SQLite's cache on each read, and the cache keeps what the page
    // cache would otherwise be asked for. Both only for reading; the writer is unaffected.
    db_.exec("PRAGMA mmap_size=1073741824");
    db_.exec("PRAGMA cache_size=-32768");
}

std::vector<std::string> SampleReader::hosts() {
    std::vector<std::string> out;
    auto stmt = db_.prepare("SELECT DISTINCT host FROM series ORDER BY host");
    while (stmt.step())
        out.emplace_back(stmt.column_text(0));
    return out;
}

std::vector<MetricInfo> SampleReader::metrics() {
    std::vector<MetricInfo> out;
    auto stmt = db_.prepare(
        "SELECT name, type, count(*), count(DISTINCT host) FROM series GROUP BY name, type ORDER "
        "BY name, type");
    while (stmt.step()) {
        out.push_back({std::string(stmt.column_text(0)), std::string(stmt.column_text(1)),
                       stmt.column_int(2), stmt.column_int(3)});
    }
    return out;
}

std::optional<std::string> SampleReader::metric_type(const std::string& metric) {
    auto stmt = db_.prepare("SELECT type FROM series WHERE name = ?1 LIMIT 1");
    stmt.bind(0, std::string_view(metric));
    if (!stmt.step())
        return std::nullopt;
    return std::string(stmt.column_text(0));
}

std::vector<Row> SampleReader::latest(const std::optional<std::string>& host,
                                      const std::string& metric) {
    Snapshot snapshot(db_);
    // The head's newest point per series (what was written since the last seal): small.
    const auto newer = newest_head_points(db_);
    // In the order of the series key's index: no sort, and one pass.
    auto series = db_.prepare(
        std::string("SELECT s.id, s.host, s.name, s.labels, s.type, l.ts, l.value FROM series s "
                    "LEFT JOIN latest l ON l.series_id = s.id ") +
        "WHERE 1" + (host ? " AND s.host = ?1" : "") + (metric.empty() ? "" : " AND s.name = ?2") +
        " ORDER BY s.host, s.name, s.labels, s.type");
    if (host)
        series.bind(0, std::string_view(*host));
    if (!metric.empty())
        series.bind(1, std::string_view(metric));
    std::vector<Row> out;
    while (series.step()) {
        bool seen = !series.column_is_null(5);
        Point point{series.column_int(5), series.column_double(6)};
        if (!newer.empty()) {
            if (auto it = newer.find(series.column_int(0));
                it != newer.end() && (!seen || it->second.ts > point.ts)) {
                point = it->second;
                seen = true;
            }
        }
        if (!seen)
            continue;
        out.push_back({std::string(series.column_text(1)), std::string(series.column_text(2)),
                       std::string(series.column_text(3)), std::string(series.column_text(4)),
                       point.ts, point.value});
    }
    return out;
}

std::vector<SampleReader::Series> SampleReader::find_series(
    const std::string& metric, const std::optional<std::string>& host) {
    std::vector<Series> series;
    // Only the filters given, so that SQLite can use the series key (host, name, ...) or
    // series_by_name; an "?1 IS NULL OR" filter would make it scan every series.
    std::string sql = "SELECT id, host, name, labels, type FROM series WHERE 1";
    if (!metric.empty())
        sql += " AND name = ?1";
    if (host)
        sql += " AND host = ?2";
    auto stmt = db_.prepare(sql + " ORDER BY host, name, labels, type");
    if (!metric.empty())
        stmt.bind(0, std::string_view(metric));
    if (host)
        stmt.bind(1, std::string_view(*host));
    while (stmt.step()) {
        series.push_back({stmt.column_int(0), std::string(stmt.column_text(1)),
                          std::string(stmt.column_text(2)), std::string(stmt.column_text(3)),
                          std::string(stmt.column_text(4))});
    }
    return series;
}

std::vector<Row> SampleReader::series(const std::string& metric,
                                      const std::optional<std::string>& host) {
    std::vector<Row> out;
    for (auto& s : find_series(metric, host))
        out.push_back(
            {std::move(s.host), std::move(s.name), std::move(s.labels), std::move(s.type)});
    return out;
}

template <typename Visit>
void SampleReader::each_series(const std::string& metric, const std::optional<std::string>& host,
                               QueryRange range, bool rate, Visit&& visit,
                               const std::function<bool(const Row&)>& wanted_series) {
    Snapshot snapshot(db_);
    std::vector<Series> series = find_series(metric, host);
    if (wanted_series) {
        Row row;
        std::erase_if(series, [&](const Series& s) {
            row.host = s.host;
            row.name = s.name;
            row.labels = s.labels;
            row.type = s.type;
            return !wanted_series(row);
        });
    }
    if (series.empty())
        return;
    std::unordered_set<int64_t> wanted;
    for (const auto& s : series)
        wanted.insert(s.id);
    const auto head = read_head(db_, &wanted);
    auto closed = db_.prepare(
        "SELECT data FROM chunks WHERE series_id = ?1 AND end_ts >= ?2 AND start_ts <= ?3 "
        "ORDER BY end_ts");
    auto open = db_.prepare(
        "SELECT data FROM open_chunks WHERE series_id = ?1 AND end_ts >= ?2 AND start_ts <= ?3");
    // Reused from series to series: a day at 1 s is 1.4 MB a series, and fresh vectors would
    // spend more time faulting their pages in than decoding.
    std::vector<Point> points, rates;
    const std::string rate_type = "rate";
    for (const auto& s : series) {
        points.clear();
        for (auto* stmt : {&closed, &open}) {
            stmt->reset();
            stmt->bind(0, s.id).bind(1, range.from_ns).bind(2, range.to_ns);
            while (stmt->step()) {
                try {
                    decode_chunk(stmt->column_blob(0), points);
                } catch (const CorruptChunk& e) {
                    throw CorruptChunk(db_.path() + ": a chunk of " + s.host + " " + s.name + " " +
                                       s.labels + " (series " + std::to_string(s.id) +
                                       ") does not decode: " + e.what());
                }
            }
        }
        if (auto it = head.find(s.id); it != head.end())
            merge_head(points, it->second);
        const auto first = std::lower_bound(points.begin(), points.end(), range.from_ns,
                                            [](const Point& p, int64_t t) { return p.ts < t; });
        const auto last = std::upper_bound(points.begin(), points.end(), range.to_ns,
                                           [](int64_t t, const Point& p) { return t < p.ts; });
        points.erase(last, points.end());
        points.erase(points.begin(), first);
        const bool as_rate = rate && s.type == "counter";
        if (as_rate)
            counter_rates(points, rates);
        if (!visit(s, as_rate ? rate_type : s.type, as_rate ? rates : points))
            return;
    }
}

void SampleReader::scan(const std::string& metric, const std::optional<std::string>& host,
                        QueryRange range, bool rate,
                        const std::function<bool(const Row&, const std::vector<Point>&)>& visit,
                        const std::function<bool(const Row&)>& wanted) {
    Row row;
    each_series(
        metric, host, range, rate,
        [&](const Series& s, const std::string& type, const std::vector<Point>& points) {
            row.host = s.host;
            row.name = s.name;
            row.labels = s.labels;
            row.type = type;
            return visit(row, points);
        },
        wanted);
}

std::vector<std::pair<std::string, int64_t>> SampleReader::last_seen() {
    Snapshot snapshot(db_);
    const auto head_newest = newest_head_points(db_);
    std::vector<std::pair<std::string, int64_t>> out;
    auto stmt = db_.prepare(
        "SELECT s.host, s.id, l.ts FROM series s LEFT JOIN latest l ON l.series_id = s.id "
        "ORDER BY s.host");
    while (stmt.step()) {
        std::optional<int64_t> newest;
        if (!stmt.column_is_null(2))
            newest = stmt.column_int(2);
        if (auto it = head_newest.find(stmt.column_int(1)); it != head_newest.end())
            newest = std::max(newest.value_or(it->second.ts), it->second.ts);
        if (!newest)
            continue;
        const std::string_view host = stmt.column_text(0);
        if (out.empty() || out.back().first != host)
            out.emplace_back(std::string(host), *newest);
        else
            out.back().second = std::max(out.back().second, *newest);
    }
    return out;
}

StoreStats SampleReader::stats() {
    Snapshot snapshot(db_);
    StoreStats stats;
    stats.schema_version = schema_version(db_);
    {
        auto stmt = db_.prepare("SELECT count(*) FROM series");
        stats.series = stmt.step() ? stmt.column_int(0) : 0;
    }
    for (const char* table : {"chunks", "open_chunks"}) {
        auto stmt = db_.prepare(std::string("SELECT count(*), coalesce(sum(count), 0), "
                                            "min(start_ts), max(end_ts) FROM ") +
                                table);
        if (!stmt.step())
            continue;
        stats.chunks += stmt.column_int(0);
        stats.samples += stmt.column_int(1);
        if (!stmt.column_is_null(2)) {
            stats.oldest_ns =
                std::min(stats.oldest_ns.value_or(stmt.column_int(2)), stmt.column_int(2));
            stats.newest_ns =
                std::max(stats.newest_ns.value_or(stmt.column_int(3)), stmt.column_int(3));
        }
    }
    for_each_head_point(db_, [&](int64_t, const Point& p) {
        ++stats.head_samples;
        stats.oldest_ns = std::min(stats.oldest_ns.value_or(p.ts), p.ts);
        stats.newest_ns = std::max(stats.newest_ns.value_or(p.ts), p.ts);
    });
    stats.samples += stats.head_samples;
    int64_t page_size = 0, free_pages = 0;
    {
        auto stmt = db_.prepare("PRAGMA page_size");
        page_size = stmt.step() ? stmt.column_int(0) : 0;
        auto free = db_.prepare("PRAGMA freelist_count");
        free_pages = free.step() ? free.column_int(0) : 0;
    }
    stats.free_bytes = page_size * free_pages;
    std::error_code ec;
    for (const auto& file : {db_.path(), db_.path() + "-wal"}) {
        const auto size = std::filesystem::file_size(file, ec);
        if (!ec)
            stats.bytes += static_cast<int64_t>(size);
    }
    return stats;
}

std::vector<Row> Reader::query(const std::string& metric, const std::optional<std::string>& host,
                               QueryRange range, bool rate) {
    std::vector<Row> out;
    scan(metric, host, range, rate, [&](const Row& s, const std::vector<Point>& points) {
        for (const auto& p : points)
            out.push_back({s.host, s.name, s.labels, s.type, p.ts, p.value});
        return true;
    });
    return out;
}

std::vector<StepRow> Reader::query_steps(const std::string& metric,
                                         const std::optional<std::string>& host, QueryRange range,
                                         int64_t step_ns, bool rate) {
    std::vector<StepRow> out;
    if (step_ns <= 0)
        throw std::invalid_argument("the step must be positive");
    scan(metric, host, range, rate, [&](const Row& s, const std::vector<Point>& points) {
        const std::string& type = s.type;
        StepRow* bucket = nullptr;
        double sum = 0;
        auto finish = [&] {
            if (bucket != nullptr)
                bucket->mean = sum / static_cast<double>(bucket->count);
        };
        for (const auto& p : points) {
            // Buckets are aligned to the epoch, before it too; the first bucket of
            // time (where ts - remainder would overflow) starts at the minimum.
            int64_t remainder = p.ts % step_ns;
            if (remainder < 0)
                remainder += step_ns;
            int64_t start = 0;
            if (__builtin_sub_overflow(p.ts, remainder, &start))
                start = std::numeric_limits<int64_t>::min();
            if (bucket == nullptr || bucket->timestamp_ns != start) {
                finish();
                out.push_back(
                    {s.host, s.name, s.labels, type, start, p.value, 0, p.value, p.value, 0});
                bucket = &out.back();
                sum = 0;
            }
            bucket->min = std::min(bucket->min, p.value);
            bucket->max = std::max(bucket->max, p.value);
            bucket->last = p.value;
            sum += p.value;
            ++bucket->count;
        }
        finish();
        return true;
    });
    return out;
}

}  // namespace dmon::store
