#include "sqlite_store/store.hpp"

#include <dmon/line_protocol.hpp>

#include <algorithm>
#include <filesystem>

namespace dmon::plugins::sqlite_store {
namespace {

constexpr std::string_view kSchema = R"(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS series(
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    type TEXT NOT NULL,
    UNIQUE(host, name, labels, type));
CREATE TABLE IF NOT EXISTS samples(
    series_id INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY(series_id, ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS batches(
    message_id TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL) WITHOUT ROWID;
)";

using dmon::to_view;

const dmon_sample& sample_at(const dmon_batch& batch, size_t i) {
    return *reinterpret_cast<const dmon_sample*>(
        reinterpret_cast<const unsigned char*>(batch.samples) + i * batch.sample_size);
}

}  // namespace

void check_schema(Database& db, bool create) {
    bool has_meta = false;
    {
        auto stmt =
            db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
        has_meta = stmt.step() && stmt.column_int(0) > 0;
    }
    if (!has_meta) {
        if (!create)
            throw DatabaseError(db.path() + ": not a dmon database (no meta table)",
                                SQLITE_NOTFOUND);
        db.exec(kSchema);
        db.exec("INSERT OR IGNORE INTO meta VALUES('schema_version', '" +
                std::to_string(kSchemaVersion) + "')");
        return;
    }
    auto stmt = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'");
    const int version = stmt.step() ? std::stoi(std::string(stmt.column_text(0))) : 0;
    if (version != kSchemaVersion) {
        throw DatabaseError(db.path() + ": schema version " + std::to_string(version) +
                                ", this dmon reads version " + std::to_string(kSchemaVersion) +
                                (version > kSchemaVersion ? " (written by a newer dmon)" : ""),
                            SQLITE_MISMATCH);
    }
}

void canonical_labels(const dmon_sample& sample, std::string& labels, std::string_view& host) {
    labels.clear();
    host = {};
    for (size_t i = 0; i < sample.label_count; ++i) {
        const std::string_view key = to_view(sample.labels[i].key);
        const std::string_view value = to_view(sample.labels[i].value);
        if (key == "host") {
            host = value;
            continue;
        }
        if (!labels.empty())
            labels.push_back(',');
        line_protocol::append_escaped(labels, key, true);
        labels.push_back('=');
        line_protocol::append_escaped(labels, value, true);
    }
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
      ready_(set_up(db_, settings)),
      find_batch_(db_.prepare("SELECT 1 FROM batches WHERE message_id = ?")),
      insert_batch_(db_.prepare("INSERT INTO batches(message_id, received_at) VALUES(?, ?)")),
      insert_series_(
          db_.prepare("INSERT OR IGNORE INTO series(host, name, labels, type) VALUES(?, ?, ?, ?)")),
      find_series_(db_.prepare(
          "SELECT id FROM series WHERE host = ? AND name = ? AND labels = ? AND type = ?")),
      insert_sample_(
          db_.prepare("INSERT OR IGNORE INTO samples(series_id, ts, value) VALUES(?, ?, ?)")),
      count_host_series_(db_.prepare("SELECT count(*) FROM series WHERE host = ?")) {}

bool SampleWriter::set_up(Database& db, const Settings& settings) {
    db.exec("PRAGMA journal_mode=WAL");
    check_schema(db, true);
    db.exec(settings.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    // Samples arrive for many series at once, so inserts touch many B-tree pages: keep 64 MiB
    // of them in memory rather than SQLite's 2 MiB default.
    db.exec("PRAGMA cache_size=-65536");
    return true;
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
    find_series_.reset();
    find_series_.bind(0, host).bind(1, name).bind(2, labels).bind(3, type);
    int64_t id = 0;
    if (find_series_.step()) {
        id = find_series_.column_int(0);
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
    // Bounded: when full, start again (ids are found in the database; the cache only saves
    // the lookup for the series that are active now).
    if (series_cache_.size() >= series_cache_limit_)
        series_cache_.clear();
    series_cache_.emplace(key_, id);
    added_to_cache_.push_back(key_);
    return id;
}

SampleWriter::Result SampleWriter::write(const dmon_batch& batch) {
    Result result;
    added_to_cache_.clear();
    // Which samples belong to an origin that is already stored (a redelivered message).
    std::vector<std::pair<size_t, size_t>> skip;  // [first, first + count)
    const dmon_origin* origins =
        batch.struct_size >= offsetof(dmon_batch, origin_count) + sizeof(size_t) ? batch.origins
                                                                                 : nullptr;
    const size_t origin_count = origins != nullptr ? batch.origin_count : 0;
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    try {
        Transaction transaction(db_);
        for (size_t i = 0; i < origin_count; ++i) {
            const std::string_view id = to_view(origins[i].id);
            find_batch_.reset();
            find_batch_.bind(0, id);
            if (find_batch_.step()) {
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
            canonical_labels(sample, labels_, host);
            const int64_t id = series_id(host, to_view(sample.name), labels_,
                                         line_protocol::type_field(sample.type), result);
            if (id == 0)
                continue;  // a new series past a limit: refused, counted in result
            insert_sample_.reset();
            insert_sample_.bind(0, id).bind(1, sample.timestamp_ns).bind(2, sample.value).step();
            if (sqlite3_changes(db_.handle()) > 0)
                ++result.stored;
            else
                ++result.duplicate_samples;
        }
        transaction.commit();
    } catch (...) {
        // The transaction rolled back: series ids created in it no longer exist, and the
        // counts are read again when next needed.
        for (const auto& key : added_to_cache_)
            series_cache_.erase(key);
        host_series_.clear();
        total_series_ = -1;
        throw;
    }
    return result;
}

int64_t SampleWriter::apply_retention(int64_t now_ns) {
    if (retention_.count() <= 0)
        return 0;
    const int64_t cutoff = now_ns - retention_.count();
    int64_t removed = 0;
    Transaction transaction(db_);
    // Per series, so that the (series_id, ts) key does the work: no index on ts alone needed.
    auto ids = db_.prepare("SELECT id FROM series");
    auto remove = db_.prepare("DELETE FROM samples WHERE series_id = ? AND ts < ?");
    while (ids.step()) {
        remove.reset();
        remove.bind(0, ids.column_int(0)).bind(1, cutoff).step();
        removed += sqlite3_changes(db_.handle());
    }
    auto old_batches = db_.prepare("DELETE FROM batches WHERE received_at < ?");
    old_batches.bind(0, cutoff).step();
    // A series with no samples left goes too: series are what the cardinality limits count,
    // and a host that stopped reporting must not hold its share forever.
    db_.exec(
        "DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM samples WHERE series_id = series.id)");
    const bool series_removed = sqlite3_changes(db_.handle()) > 0;
    transaction.commit();
    if (series_removed) {
        series_cache_.clear();
        host_series_.clear();
        total_series_ = -1;
    }
    return removed;
}

SampleReader::SampleReader(const std::string& path) : db_(path, Database::ReadOnly{}) {
    check_schema(db_, false);
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

std::vector<Row> SampleReader::latest(const std::optional<std::string>& host) {
    std::vector<Row> out;
    // For each series, its newest sample: one index seek per series on (series_id, ts).
    auto stmt = db_.prepare(
        "SELECT s.host, s.name, s.labels, s.type, x.ts, x.value FROM series s "
        "JOIN samples x ON x.series_id = s.id AND x.ts = (SELECT max(ts) FROM samples WHERE "
        "series_id = s.id) "
        "WHERE (?1 IS NULL OR s.host = ?1) ORDER BY s.host, s.name, s.labels");
    if (host)
        stmt.bind(0, std::string_view(*host));
    while (stmt.step()) {
        out.push_back({std::string(stmt.column_text(0)), std::string(stmt.column_text(1)),
                       std::string(stmt.column_text(2)), std::string(stmt.column_text(3)),
                       stmt.column_int(4), stmt.column_double(5)});
    }
    return out;
}

std::vector<Row> SampleReader::query(const std::string& metric,
                                     const std::optional<std::string>& host, int64_t since_ns,
                                     bool rate) {
    std::vector<Row> out;
    auto stmt = db_.prepare(
        "SELECT s.host, s.name, s.labels, s.type, x.ts, x.value FROM series s "
        "JOIN samples x ON x.series_id = s.id "
        "WHERE s.name = ?1 AND (?2 IS NULL OR s.host = ?2) AND x.ts >= ?3 "
        "ORDER BY s.host, s.labels, s.type, x.ts");
    stmt.bind(0, std::string_view(metric));
    if (host)
        stmt.bind(1, std::string_view(*host));
    stmt.bind(2, since_ns);
    std::optional<Row> previous;
    while (stmt.step()) {
        Row row{std::string(stmt.column_text(0)),
                std::string(stmt.column_text(1)),
                std::string(stmt.column_text(2)),
                std::string(stmt.column_text(3)),
                stmt.column_int(4),
                stmt.column_double(5)};
        if (!rate || row.type != "counter") {
            out.push_back(std::move(row));
            continue;
        }
        const bool same_series =
            previous && previous->host == row.host && previous->labels == row.labels;
        if (same_series && row.value >= previous->value &&
            row.timestamp_ns > previous->timestamp_ns) {
            Row rated = row;
            rated.value = (row.value - previous->value) * 1e9 /
                          static_cast<double>(row.timestamp_ns - previous->timestamp_ns);
            rated.type = "rate";
            out.push_back(std::move(rated));
        }
        previous = std::move(row);
    }
    return out;
}

}  // namespace dmon::plugins::sqlite_store
