#include <dmon/store/chunk.hpp>
#include <dmon/store/schema.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace dmon::store {
namespace {

// Version 2. series and batches are as in version 1 (a migration keeps them as they are).
constexpr std::string_view kSchema = R"(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS series(
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    type TEXT NOT NULL,
    UNIQUE(host, name, labels, type));
CREATE TABLE IF NOT EXISTS batches(
    message_id TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL) WITHOUT ROWID;
)";
constexpr std::string_view kChunkTables = R"(
CREATE TABLE IF NOT EXISTS head(
    id INTEGER PRIMARY KEY,
    count INTEGER NOT NULL,
    written_at INTEGER NOT NULL,
    data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS chunks(
    id INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL,
    start_ts INTEGER NOT NULL,
    end_ts INTEGER NOT NULL,
    count INTEGER NOT NULL,
    data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_series ON chunks(series_id, end_ts, start_ts);
CREATE INDEX IF NOT EXISTS series_by_name ON series(name);
CREATE TABLE IF NOT EXISTS open_chunks(
    series_id INTEGER PRIMARY KEY,
    start_ts INTEGER NOT NULL,
    end_ts INTEGER NOT NULL,
    count INTEGER NOT NULL,
    data BLOB NOT NULL,
    state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS latest(
    series_id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    value REAL NOT NULL);
)";

bool has_table(Database& db, std::string_view name) {
    auto stmt = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?");
    stmt.bind(0, name);
    return stmt.step() && stmt.column_int(0) > 0;
}

std::string sql_quote(const std::string& text) {
    std::string out = "'";
    for (char c : text) {
        if (c == '\'')
            out += '\'';
        out += c;
    }
    return out + "'";
}

}  // namespace

int schema_version(Database& db) {
    if (!has_table(db, "meta"))
        return 0;
    auto stmt = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'");
    if (!stmt.step())
        return 0;
    try {
        return std::stoi(std::string(stmt.column_text(0)));
    } catch (const std::exception&) {
        return 0;
    }
}

uint32_t recorded_chunk_samples(Database& db) {
    auto stmt = db.prepare("SELECT value FROM meta WHERE key = 'chunk_samples'");
    if (!stmt.step())
        return kDefaultChunkSamples;
    const std::string text(stmt.column_text(0));
    char* end = nullptr;
    const unsigned long value = std::strtoul(text.c_str(), &end, 10);
    return end != text.c_str() && *end == '\0' && value >= 2 && value <= 65536
               ? static_cast<uint32_t>(value)
               : kDefaultChunkSamples;
}

void record_chunk_samples(Database& db, uint32_t chunk_samples) {
    auto stmt = db.prepare("INSERT OR REPLACE INTO meta VALUES('chunk_samples', ?)");
    stmt.bind(0, std::string_view(std::to_string(chunk_samples))).step();
}

void check_schema(Database& db, bool create) {
    const int version = schema_version(db);
    if (version == 0) {
        if (has_table(db, "meta") || !create)
            throw DatabaseError(db.path() + ": not a dmon database (no schema_version)",
                                SQLITE_NOTFOUND);
        {
            auto tables = db.prepare("SELECT count(*) FROM sqlite_master");
            if (tables.step() && tables.column_int(0) > 0)
                throw DatabaseError(
                    db.path() + ": holds tables of something else; dmon will not write into it",
                    SQLITE_NOTFOUND);
        }
        Transaction transaction(db);
        db.exec(kSchema);
        db.exec(kChunkTables);
        db.exec("INSERT INTO meta VALUES('schema_version', '" + std::to_string(kSchemaVersion) +
                "')");
        transaction.commit();
        return;
    }
    if (version == 1) {
        throw DatabaseError(
            db.path() +
                ": schema version 1 (one row per sample, written by an older dmon). It is "
                "migrated in place when a controller's sqlite_store opens it, or now with "
                "'dmonctl migrate --db " +
                db.path() + "' (a backup copy is made first)",
            SQLITE_MISMATCH);
    }
    if (version != kSchemaVersion) {
        throw DatabaseError(db.path() + ": schema version " + std::to_string(version) +
                                ", this dmon reads version " + std::to_string(kSchemaVersion) +
                                (version > kSchemaVersion ? " (written by a newer dmon)" : ""),
                            SQLITE_MISMATCH);
    }
}

std::string migrate_schema(Database& db, const MigrationOptions& options) {
    const int version = schema_version(db);
    if (version == kSchemaVersion)
        return "";
    if (version != 1)
        check_schema(db, false);  // throws the reason
    auto say = [&](const std::string& line) {
        if (options.progress)
            options.progress(line);
    };
    std::string report;
    if (options.backup) {
        std::string backup = db.path() + ".schema1.bak";
        for (int n = 1; std::filesystem::exists(backup); ++n)
            backup = db.path() + ".schema1." + std::to_string(n) + ".bak";
        say("migrating " + db.path() + " from schema 1 to 2; copying it to " + backup + " first");
        db.exec("VACUUM INTO " + sql_quote(backup));
        report = "backup in " + backup + "; ";
    }
    const auto started = std::chrono::steady_clock::now();
    auto last_said = started;
    int64_t series_total = 0, series_done = 0, points = 0, chunks = 0;
    {
        Transaction transaction(db);  // a crash or an error leaves schema 1 as it was
        db.exec(kChunkTables);
        {
            auto count = db.prepare("SELECT count(*) FROM series");
            series_total = count.step() ? count.column_int(0) : 0;
        }
        auto ids = db.prepare("SELECT id FROM series ORDER BY id");
        auto rows = db.prepare("SELECT ts, value FROM samples WHERE series_id = ? ORDER BY ts");
        auto insert_chunk = db.prepare(
            "INSERT INTO chunks(series_id, start_ts, end_ts, count, data) VALUES(?, ?, ?, ?, ?)");
        auto insert_open = db.prepare(
            "INSERT INTO open_chunks(series_id, start_ts, end_ts, count, data, state) "
            "VALUES(?, ?, ?, ?, ?, ?)");
        auto insert_latest = db.prepare("INSERT INTO latest(series_id, ts, value) VALUES(?, ?, ?)");
        std::vector<Point> series_points;
        while (ids.step()) {
            const int64_t id = ids.column_int(0);
            series_points.clear();
            rows.reset();
            rows.bind(0, id);
            while (rows.step())
                series_points.push_back({rows.column_int(0), rows.column_double(1)});
            for (size_t first = 0; first < series_points.size(); first += options.chunk_samples) {
                const size_t n =
                    std::min<size_t>(options.chunk_samples, series_points.size() - first);
                const Chunk chunk =
                    encode_chunk(std::span<const Point>(series_points).subspan(first, n));
                const bool full = n == options.chunk_samples;
                auto& insert = full ? insert_chunk : insert_open;
                insert.reset();
                insert.bind(0, id)
                    .bind(1, chunk.start_ts)
                    .bind(2, chunk.end_ts)
                    .bind(3, static_cast<int64_t>(chunk.count))
                    .bind_blob(4, chunk.data);
                if (!full)
                    insert.bind_blob(5, chunk.state);
                insert.step();
                ++chunks;
            }
            if (!series_points.empty()) {
                insert_latest.reset();
                insert_latest.bind(0, id)
                    .bind(1, series_points.back().ts)
                    .bind(2, series_points.back().value)
                    .step();
            }
            points += static_cast<int64_t>(series_points.size());
            ++series_done;
            const auto now = std::chrono::steady_clock::now();
            if (now - last_said >= std::chrono::seconds(2)) {
                last_said = now;
                say("migrating: " + std::to_string(series_done) + " of " +
                    std::to_string(series_total) + " series (" +
                    std::to_string(series_total > 0 ? series_done * 100 / series_total : 100) +
                    "%), " + std::to_string(points) + " samples");
            }
        }
        db.exec("DROP TABLE samples");
        db.exec("UPDATE meta SET value = '" + std::to_string(kSchemaVersion) +
                "' WHERE key = 'schema_version'");
        transaction.commit();
    }
    say("migrated " + std::to_string(points) + " samples of " + std::to_string(series_total) +
        " series into " + std::to_string(chunks) + " chunks; giving the rows' space back (VACUUM)");
    db.exec("VACUUM");
    char took[32];
    std::snprintf(
        took, sizeof(took), "%.1f s",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return report + "migrated " + std::to_string(points) + " samples of " +
           std::to_string(series_total) + " series to schema " + std::to_string(kSchemaVersion) +
           " in " + took;
}

std::vector<std::pair<std::string, std::string>> split_series_labels(std::string_view labels) {
    std::vector<std::pair<std::string, std::string>> out;
    if (labels.empty())
        return out;
    std::string key, value;
    bool in_value = false;
    for (size_t i = 0; i < labels.size(); ++i) {
        char c = labels[i];
        std::string& part = in_value ? value : key;
        if (c == '\\' && i + 1 < labels.size()) {
            c = labels[++i];
            part.push_back(c == 'n' ? '\n' : c);
        } else if (c == '=' && !in_value) {
            in_value = true;
        } else if (c == ',') {
            out.emplace_back(std::move(key), std::move(value));
            key.clear();
            value.clear();
            in_value = false;
        } else {
            part.push_back(c);
        }
    }
    out.emplace_back(std::move(key), std::move(value));
    return out;
}

void series_labels(const dmon_sample& sample, std::string& labels, std::string_view& host) {
    labels.clear();
    host = {};
    auto append = [&labels](std::string_view text) {
        for (char c : text) {
            if (c == '\n') {
                labels += "\\n";
                continue;
            }
            if (c == '\\' || c == ',' || c == '=' || c == ' ')
                labels.push_back('\\');
            labels.push_back(c);
        }
    };
    for (size_t i = 0; i < sample.label_count; ++i) {
        const std::string_view key(sample.labels[i].key.data, sample.labels[i].key.size);
        const std::string_view value(sample.labels[i].value.data, sample.labels[i].value.size);
        if (key == "host") {
            host = value;
            continue;
        }
        if (!labels.empty())
            labels.push_back(',');
        append(key);
        labels.push_back('=');
        append(value);
    }
}

}  // namespace dmon::store
