#include <dmon/secret_file.hpp>
#include <dmon/str.hpp>
#include <dmon/store/postgres.hpp>
#include <dmon/store/schema.hpp>

#include "points.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>

namespace dmon::store::pg {
namespace {

constexpr int64_t kDayNs = 86'400'000'000'000;

std::string one_line(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    for (char& c : text)
        if (c == '\n' || c == '\r' || c == '\t')
            c = ' ';
    return text;
}

bool contains(const std::string& text, const char* word) {
    return text.find(word) != std::string::npos;
}

// A connection that could not be made: a login problem (the operator must fix the config) or the
// server not answering (retry later). libpq gives no SQLSTATE here, only its message.
Failure connect_failure(const std::string& message) {
    for (const char* login :
         {"password authentication failed", "no password supplied", "does not exist", "pg_hba.conf",
          "SSL", "certificate", "permission denied", "authentication"}) {
        if (contains(message, login))
            return Failure::login;
    }
    return Failure::unreachable;
}

Failure sqlstate_failure(const std::string& state) {
    if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03")
        return Failure::unreachable;
    if (state == "42501" || state == "25006")
        return Failure::permission;
    if (state.rfind("28", 0) == 0)
        return Failure::login;
    return Failure::other;
}

std::string_view type_name(uint32_t type) {
    return type == DMON_COUNTER ? "counter" : "gauge";
}
const dmon_sample& sample_at(const dmon_batch& batch, size_t i) {
    return *reinterpret_cast<const dmon_sample*>(
        reinterpret_cast<const unsigned char*>(batch.samples) + i * batch.sample_size);
}

// Days since 1970-01-01 from a civil date and back (H. Hinnant's algorithms), for partition
// names that say their UTC day.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}
void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = static_cast<int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
}

// "samples_20261206" -> that day's start; nullopt for a name of another shape.
std::optional<int64_t> partition_day(std::string_view name) {
    constexpr std::string_view prefix = "samples_";
    if (name.size() != prefix.size() + 8 || name.substr(0, prefix.size()) != prefix)
        return std::nullopt;
    unsigned value = 0;
    const auto digits = name.substr(prefix.size());
    if (std::from_chars(digits.data(), digits.data() + digits.size(), value).ec != std::errc{})
        return std::nullopt;
    const unsigned d = value % 100, m = value / 100 % 100;
    const int64_t y = value / 10000;
    if (m < 1 || m > 12 || d < 1 || d > 31)
        return std::nullopt;
    return days_from_civil(y, m, d) * kDayNs;
}

void append_number(std::string& out, int64_t value) {
    char buffer[24];
    const auto end = std::to_chars(buffer, buffer + sizeof(buffer), value).ptr;
    out.append(buffer, end);
}

// COPY's text format and float8's input: shortest text that reads back as the same double.
void append_real(std::string& out, double value) {
    if (std::isnan(value)) {
        out += "NaN";
    } else if (std::isinf(value)) {
        out += value > 0 ? "Infinity" : "-Infinity";
    } else {
        char buffer[32];
        const auto end = std::to_chars(buffer, buffer + sizeof(buffer), value).ptr;
        out.append(buffer, end);
    }
}

double parse_real(std::string_view text) {
    // float8's output: digits, NaN, Infinity, -Infinity; strtod reads all of them.
    return std::strtod(std::string(text).c_str(), nullptr);
}

std::string to_hex(std::string_view bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) {
        const auto byte = static_cast<unsigned char>(c);
        out += kHex[byte >> 4];
        out += kHex[byte & 15];
    }
    return out;
}

std::string id_array(const std::vector<int64_t>& ids) {
    std::string out = "{";
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i > 0)
            out += ',';
        append_number(out, ids[i]);
    }
    return out + "}";
}

}  // namespace

std::string describe(const std::string& conninfo) {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
    if (options == nullptr) {
        PQfreemem(error);
        return "?";
    }
    std::map<std::string, std::string> values;
    for (auto* option = options; option->keyword != nullptr; ++option) {
        if (option->val != nullptr)
            values[option->keyword] = option->val;
    }
    PQconninfoFree(options);
    std::string host = values.count("host") ? values["host"] : values["hostaddr"];
    std::string out;
    if (values.count("user"))
        out += values["user"] + "@";
    out += host.empty() ? "localhost" : host;
    if (values.count("port"))
        out += ":" + values["port"];
    if (values.count("dbname"))
        out += "/" + values["dbname"];
    return out;
}

bool is_postgres_uri(std::string_view db) {
    return db.rfind("postgresql://", 0) == 0 || db.rfind("postgres://", 0) == 0;
}

bool valid_schema_name(std::string_view name) {
    if (name.empty() || name.size() > 63 || (name[0] >= '0' && name[0] <= '9'))
        return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

int64_t day_start_ns(int64_t ts) {
    int64_t day = ts / kDayNs;
    if (ts % kDayNs < 0)
        --day;
    return day * kDayNs;
}

std::string day_name(int64_t day_start) {
    int64_t y = 0;
    unsigned m = 0, d = 0;
    civil_from_days(day_start / kDayNs, y, m, d);
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "%04lld%02u%02u", static_cast<long long>(y), m, d);
    return buffer;
}

// ---- Result, Connection, Transaction ----

Result::~Result() {
    if (result_ != nullptr)
        PQclear(result_);
}
int Result::rows() const {
    return PQntuples(result_);
}
bool Result::is_null(int row, int column) const {
    return PQgetisnull(result_, row, column) != 0;
}
std::string_view Result::text(int row, int column) const {
    return {PQgetvalue(result_, row, column),
            static_cast<size_t>(PQgetlength(result_, row, column))};
}
int64_t Result::integer(int row, int column) const {
    int64_t value = 0;
    const auto t = text(row, column);
    std::from_chars(t.data(), t.data() + t.size(), value);
    return value;
}
double Result::real(int row, int column) const {
    return parse_real(text(row, column));
}
std::string Result::affected() const {
    return PQcmdTuples(result_);
}

Connection::Connection(const ConnectionSettings& settings) : where_(describe(settings.conninfo)) {
    if (where_ == "?") {
        char* error = nullptr;
        PQconninfoOption* options = PQconninfoParse(settings.conninfo.c_str(), &error);
        PQconninfoFree(options);
        const std::string why = error != nullptr ? one_line(error) : "cannot be parsed";
        PQfreemem(error);
        throw PgError(Failure::login, "conninfo " + why);
    }
    std::string password;
    if (!settings.password_file.empty()) {
        try {
            password = read_secret_file(settings.password_file, "password_file");
        } catch (const std::exception& e) {
            throw PgError(Failure::login, e.what());
        }
    }
    const std::string timeout = std::to_string(settings.connect_timeout.count());
    // dbname first: libpq expands it as the conninfo, and what follows overrides it.
    std::vector<const char*> keys{"dbname", "fallback_application_name", "connect_timeout",
                                  // A server that stops answering is noticed within ~30 s
                                  // instead of a write blocking forever.
                                  "keepalives_idle", "keepalives_interval", "keepalives_count",
                                  "tcp_user_timeout"};
    std::vector<const char*> values{
        settings.conninfo.c_str(), "dmon", timeout.c_str(), "10", "5", "3", "30000"};
    if (!password.empty()) {
        keys.push_back("password");
        values.push_back(password.c_str());
    }
    if (!settings.sslmode.empty()) {
        keys.push_back("sslmode");
        values.push_back(settings.sslmode.c_str());
    }
    if (!settings.sslrootcert.empty()) {
        keys.push_back("sslrootcert");
        values.push_back(settings.sslrootcert.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    conn_ = PQconnectdbParams(keys.data(), values.data(), 1);
    std::fill(password.begin(), password.end(), '\0');
    if (conn_ == nullptr)
        throw PgError(Failure::unreachable, "PostgreSQL " + where_ + ": out of memory");
    if (PQstatus(conn_) != CONNECTION_OK) {
        const std::string message = one_line(PQerrorMessage(conn_));
        PQfinish(conn_);
        conn_ = nullptr;
        const Failure failure = connect_failure(message);
        throw PgError(failure,
                      "PostgreSQL " + where_ +
                          (failure == Failure::login ? ": login refused: " : ": cannot connect: ") +
                          message);
    }
    user_ = PQuser(conn_);
    where_ = user_ + "@" + PQhost(conn_) + ":" + PQport(conn_) + "/" + PQdb(conn_);
    // Messages below WARNING (NOTICE of IF NOT EXISTS) are not for the log.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
}

Connection::~Connection() {
    if (conn_ != nullptr)
        PQfinish(conn_);
}

bool Connection::broken() const {
    return PQstatus(conn_) != CONNECTION_OK;
}

PgError Connection::error(const std::string& doing, pg_result* result) const {
    std::string state, message;
    if (result != nullptr) {
        if (const char* s = PQresultErrorField(result, PG_DIAG_SQLSTATE))
            state = s;
        if (const char* m = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY))
            message = m;
    }
    if (message.empty())
        message = one_line(PQerrorMessage(conn_));
    Failure failure = state.empty() ? Failure::other : sqlstate_failure(state);
    if (broken())
        failure = Failure::unreachable;
    return PgError(failure,
                   "PostgreSQL " + where_ + ": " + doing + ": " + one_line(message) +
                       (state.empty() ? "" : " (SQLSTATE " + state + ")"),
                   state);
}

Result Connection::query(const std::string& sql,
                         const std::vector<std::optional<std::string>>& params,
                         const std::string& doing) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params)
        values.push_back(p ? p->c_str() : nullptr);
    pg_result* raw = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                  values.data(), nullptr, nullptr, 0);
    const auto status = PQresultStatus(raw);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        const PgError e = error(doing, raw);
        PQclear(raw);
        throw e;
    }
    return Result(raw);
}

void Connection::script(const std::string& sql, const std::string& doing) {
    pg_result* raw = PQexec(conn_, sql.c_str());
    if (PQresultStatus(raw) != PGRES_COMMAND_OK && PQresultStatus(raw) != PGRES_TUPLES_OK) {
        const PgError e = error(doing, raw);
        PQclear(raw);
        throw e;
    }
    PQclear(raw);
}

void Connection::copy_in(const std::string& sql, std::string_view data, const std::string& doing) {
    {
        pg_result* raw = PQexec(conn_, sql.c_str());
        if (PQresultStatus(raw) != PGRES_COPY_IN) {
            const PgError e = error(doing, raw);
            PQclear(raw);
            throw e;
        }
        PQclear(raw);
    }
    // In pieces of 1 MiB: libpq buffers what it cannot send at once.
    constexpr size_t kPiece = 1 << 20;
    for (size_t at = 0; at < data.size(); at += kPiece) {
        const size_t n = std::min(kPiece, data.size() - at);
        if (PQputCopyData(conn_, data.data() + at, static_cast<int>(n)) != 1)
            throw error(doing, nullptr);
    }
    if (PQputCopyEnd(conn_, nullptr) != 1)
        throw error(doing, nullptr);
    bool failed = false;
    std::optional<PgError> first;
    while (pg_result* raw = PQgetResult(conn_)) {
        if (PQresultStatus(raw) != PGRES_COMMAND_OK && !failed) {
            failed = true;
            first = error(doing, raw);
        }
        PQclear(raw);
    }
    if (first)
        throw *first;
}

Transaction::Transaction(Connection& connection, const char* begin) : connection_(connection) {
    connection_.query(begin, {}, "beginning a transaction");
}

Transaction::~Transaction() {
    if (open_ && !connection_.broken()) {
        try {
            connection_.query("ROLLBACK", {}, "rolling back");
        } catch (const PgError&) {
            // The connection is unusable now; its owner notices on the next call.
        }
    }
}

void Transaction::commit() {
    connection_.query("COMMIT", {}, "committing");
    open_ = false;
}

// ---- schema ----

void prepare_schema(Connection& c, const std::string& schema, bool create) {
    if (!valid_schema_name(schema))
        throw PgError(Failure::schema, "schema name '" + schema +
                                           "' is not accepted: lower-case letters, digits and _");
    Transaction transaction(c);
    // Two controllers started together: one creates, the other waits and then finds it made.
    c.query("SELECT pg_advisory_xact_lock(hashtext('dmon.schema.' || $1))", {schema},
            "locking the schema");
    const auto state = c.query(
        "SELECT to_regclass($1 || '.meta') IS NOT NULL, "
        "(SELECT count(*) FROM pg_class k JOIN pg_namespace n ON n.oid = k.relnamespace "
        "WHERE n.nspname = $1)",
        {schema}, "reading the schema");
    const bool has_meta = state.text(0, 0) == "t";
    const int64_t relations = state.integer(0, 1);
    const std::string in = "schema " + schema + " of " + c.where();
    if (has_meta) {
        const auto meta = c.query("SELECT key, value FROM " + schema + ".meta", {},
                                  "reading " + schema + ".meta");
        std::map<std::string, std::string> values;
        for (int i = 0; i < meta.rows(); ++i)
            values[std::string(meta.text(i, 0))] = std::string(meta.text(i, 1));
        if (values["created_by"] != "dmon")
            throw PgError(Failure::schema, in + " has a meta table that dmon did not write: it "
                                                "belongs to something else; set schema: to "
                                                "another name");
        const int version = std::atoi(values["schema_version"].c_str());
        if (version > kSchemaVersion)
            throw PgError(Failure::schema, in + " has dmon schema version " +
                                               std::to_string(version) + ", this dmon knows " +
                                               std::to_string(kSchemaVersion) +
                                               " (written by a newer dmon)");
        if (version < 1)
            throw PgError(Failure::schema, in + " has no valid schema_version");
        // Upgrades from older versions go here, each in this transaction; there is only 1 yet.
        transaction.commit();
        return;
    }
    if (relations > 0)
        throw PgError(Failure::schema, in + " holds " + std::to_string(relations) +
                                           " tables of something else; dmon will not write "
                                           "into it (set schema: to another name)");
    if (!create)
        throw PgError(Failure::schema,
                      in + " holds no dmon store (a controller's postgres_store creates it)");
    const std::string s = schema;
    c.query("CREATE SCHEMA IF NOT EXISTS " + s, {}, "creating schema " + s);
    c.script(
        "CREATE TABLE " + s +
            ".meta(key text PRIMARY KEY, value text NOT NULL);"
            "CREATE TABLE " +
            s +
            ".series(id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
            "host text NOT NULL, name text NOT NULL, labels text NOT NULL, type text NOT NULL, "
            "UNIQUE (host, name, labels, type));"
            "CREATE INDEX series_by_name ON " +
            s +
            ".series(name);"
            "CREATE TABLE " +
            s +
            ".batches(message_id bytea PRIMARY KEY, received_at bigint NOT NULL);"
            "CREATE INDEX batches_by_time ON " +
            s +
            ".batches(received_at);"
            "CREATE TABLE " +
            s +
            ".samples(series_id bigint NOT NULL, ts bigint NOT NULL, "
            "value double precision NOT NULL) PARTITION BY RANGE (ts);"
            "CREATE INDEX samples_by_series ON " +
            s +
            ".samples(series_id, ts);"
            // For people and Grafana's PostgreSQL data source: a row per point with its
            // series spelt out and a timestamptz.
            "CREATE VIEW " +
            s +
            ".points AS SELECT s.host, s.name, s.labels, s.type, "
            "to_timestamp(p.ts / 1e9) AS time, p.ts, p.value FROM " +
            s + ".samples p JOIN " + s + ".series s ON s.id = p.series_id;",
        "creating dmon's tables in schema " + s);
    c.query("INSERT INTO " + s + ".meta VALUES ('schema_version', $1), ('created_by', 'dmon')",
            {std::to_string(kSchemaVersion)}, "writing " + s + ".meta");
    transaction.commit();
}

// ---- Writer ----

Writer::Writer(Settings settings)
    : settings_(std::move(settings)), schema_(settings_.connection.schema) {
    if (!valid_schema_name(schema_))
        throw PgError(Failure::schema, "schema name '" + schema_ +
                                           "' is not accepted: lower-case letters, digits and _");
}

std::string Writer::where() const {
    return connection_ ? connection_->where() : describe(settings_.connection.conninfo);
}

void Writer::connect() {
    auto connection = std::make_unique<Connection>(settings_.connection);
    prepare_schema(*connection, schema_, true);
    connection_ = std::move(connection);
}

Connection& Writer::connection() {
    if (!connection_)
        connect();
    return *connection_;
}

void Writer::forget_connection() {
    connection_.reset();
    // Another controller may have changed what was cached meanwhile: counts are read again.
    host_series_.clear();
    total_series_ = -1;
    partitions_.clear();
}

int64_t Writer::series_id(std::string_view host, std::string_view name, std::string_view labels,
                          std::string_view type, Result& result) {
    key_.assign(host)
        .append(1, '\0')
        .append(name)
        .append(1, '\0')
        .append(labels)
        .append(1, '\0')
        .append(type);
    if (auto it = series_cache_.find(key_); it != series_cache_.end())
        return it->second;
    int64_t id = 0;
    if (auto it = previous_cache_.find(key_); it != previous_cache_.end()) {
        id = it->second;
    } else {
        auto& c = *connection_;
        const std::vector<std::optional<std::string>> key{std::string(host), std::string(name),
                                                          std::string(labels), std::string(type)};
        const std::string find = "SELECT id FROM " + schema_ +
                                 ".series WHERE host = $1 AND name = $2 AND labels = $3 AND "
                                 "type = $4";
        auto found = c.query(find, key, "looking up a series");
        if (found.rows() == 1) {
            id = found.integer(0, 0);
        } else {
            // A new series: within the limits as this controller counts them (with several
            // controllers, each may let one more in during a race; see docs/storage.md).
            auto counted = host_series_.find(std::string(host));
            if (counted == host_series_.end()) {
                auto n = c.query("SELECT count(*) FROM " + schema_ + ".series WHERE host = $1",
                                 {std::string(host)}, "counting a host's series");
                counted = host_series_.emplace(std::string(host), n.integer(0, 0)).first;
            }
            if (total_series_ < 0) {
                auto n =
                    c.query("SELECT count(*) FROM " + schema_ + ".series", {}, "counting series");
                total_series_ = n.integer(0, 0);
            }
            if (settings_.max_series_per_host > 0 &&
                counted->second >= settings_.max_series_per_host) {
                ++result.refused_per_host;
                result.refused_host.assign(host);
                return 0;
            }
            if (settings_.max_series > 0 && total_series_ >= settings_.max_series) {
                ++result.refused_total;
                result.refused_host.assign(host);
                return 0;
            }
            // Its own statement, committed at once: a series is never rolled back with a batch,
            // and two controllers creating it together do not deadlock inside batches.
            auto made = c.query("INSERT INTO " + schema_ +
                                    ".series(host, name, labels, type) VALUES ($1, $2, $3, $4) "
                                    "ON CONFLICT DO NOTHING RETURNING id",
                                key, "creating a series");
            if (made.rows() == 1) {
                id = made.integer(0, 0);
                ++counted->second;
                ++total_series_;
            } else {
                // Another controller made it first (its insert committed before ours looked).
                auto again = c.query(find, key, "looking up a series");
                if (again.rows() != 1)
                    throw PgError(Failure::other, "PostgreSQL " + c.where() +
                                                      ": a series neither created nor found");
                id = again.integer(0, 0);
            }
        }
    }
    if (series_cache_.size() >= settings_.series_cache) {
        previous_cache_.swap(series_cache_);
        series_cache_.clear();
    }
    series_cache_.emplace(key_, id);
    return id;
}

void Writer::ensure_partition(int64_t day) {
    if (partitions_.count(day) > 0)
        return;
    auto& c = *connection_;
    Transaction transaction(c);
    c.query("SELECT pg_advisory_xact_lock(hashtext('dmon.partitions.' || $1))", {schema_},
            "locking the partitions");
    const std::string name = "samples_" + day_name(day);
    c.query("CREATE TABLE IF NOT EXISTS " + schema_ + "." + name + " PARTITION OF " + schema_ +
                ".samples FOR VALUES FROM (" + std::to_string(day) + ") TO (" +
                std::to_string(day + kDayNs) + ")",
            {}, "creating partition " + name);
    transaction.commit();
    partitions_.insert(day);
}

Writer::Result Writer::write(const dmon_batch& batch, int64_t now) {
    Result result;
    auto& c = connection();
    try {
        const dmon_origin* origins =
            batch.struct_size >= offsetof(dmon_batch, origin_count) + sizeof(size_t) ? batch.origins
                                                                                     : nullptr;
        const size_t origin_count = origins != nullptr ? batch.origin_count : 0;
        const int64_t today = day_start_ns(now);
        const int64_t newest_day = today + settings_.partitions_ahead * kDayNs;
        const int64_t oldest_day = settings_.retention.count() > 0
                                       ? day_start_ns(now - settings_.retention.count())
                                       : std::numeric_limits<int64_t>::min();
        // Series and partitions first, each committed on its own (see series_id).
        std::vector<int64_t> ids(batch.sample_count, 0);
        std::string_view host;
        for (size_t i = 0; i < batch.sample_count; ++i) {
            const dmon_sample& sample = sample_at(batch, i);
            const int64_t day = day_start_ns(sample.timestamp_ns);
            if (day > newest_day || day < oldest_day) {
                ++result.out_of_range;
                result.out_of_range_ts = sample.timestamp_ns;
                continue;
            }
            series_labels(sample, labels_, host);
            if (!is_utf8_text(host) || !is_utf8_text(to_view(sample.name)) ||
                !is_utf8_text(labels_)) {
                // A text column takes only UTF-8: one such sample must not fail its batch
                // (and the queue behind it) forever.
                ++result.not_utf8;
                continue;
            }
            ids[i] = series_id(host, to_view(sample.name), labels_, type_name(sample.type), result);
            if (ids[i] != 0)
                ensure_partition(day);
        }
        Transaction transaction(c);
        // A message id stored before (by this controller or another) marks a redelivery: its
        // samples are skipped. A controller inserting the same id at this moment makes this
        // insert wait for its commit, so the two never both store it. Ids are bytes (bytea): a
        // sender's id that is not UTF-8 is still an id, not an error that blocks the queue.
        // One statement for all of them: the ids inserted now come back.
        if (origin_count > 0) {
            std::vector<std::string> hex(origin_count);
            std::string array = "{";
            for (size_t i = 0; i < origin_count; ++i) {
                hex[i] = to_hex(to_view(origins[i].id));
                array += std::string(i > 0 ? "," : "") + "\"\\\\x" + hex[i] + "\"";
            }
            array += "}";
            auto inserted = c.query("INSERT INTO " + schema_ +
                                        ".batches(message_id, received_at) SELECT "
                                        "unnest($1::bytea[]), $2 ON CONFLICT DO NOTHING "
                                        "RETURNING message_id",
                                    {array, std::to_string(now)}, "recording message ids");
            std::unordered_set<std::string> fresh;
            for (int i = 0; i < inserted.rows(); ++i)
                fresh.emplace(inserted.text(i, 0).substr(2));  // "\x..." as bytea prints
            for (size_t i = 0; i < origin_count; ++i) {
                // New, and the first of its id in this batch: stored. Else a redelivery.
                if (fresh.erase(hex[i]) > 0)
                    continue;
                ++result.skipped_batches;
                const size_t end =
                    std::min(batch.sample_count, origins[i].first + origins[i].count);
                for (size_t k = origins[i].first; k < end; ++k)
                    ids[k] = 0;
            }
        }
        copy_.clear();
        for (size_t i = 0; i < batch.sample_count; ++i) {
            if (ids[i] == 0)
                continue;
            const dmon_sample& sample = sample_at(batch, i);
            append_number(copy_, ids[i]);
            copy_ += '\t';
            append_number(copy_, sample.timestamp_ns);
            copy_ += '\t';
            append_real(copy_, sample.value);
            copy_ += '\n';
            ++result.stored;
        }
        if (!copy_.empty())
            c.copy_in("COPY " + schema_ + ".samples(series_id, ts, value) FROM STDIN", copy_,
                      "copying samples");
        transaction.commit();
    } catch (const PgError& e) {
        if (c.broken())
            forget_connection();
        else if (e.sqlstate() == "23514")
            partitions_.clear();  // a partition dropped by another controller: made again
        throw;
    }
    return result;
}

int Writer::dropped_partitions(int64_t now) {
    auto& c = connection();
    int dropped = 0;
    try {
        const int64_t today = day_start_ns(now);
        for (int day = 0; day <= settings_.partitions_ahead; ++day)
            ensure_partition(today + day * kDayNs);
        if (settings_.retention.count() <= 0)
            return 0;
        const int64_t cutoff = now - settings_.retention.count();
        auto partitions = c.query(
            "SELECT k.relname FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass($1 || '.samples')",
            {schema_}, "listing partitions");
        for (int i = 0; i < partitions.rows(); ++i) {
            const std::string name(partitions.text(i, 0));
            const auto day = partition_day(name);
            if (!day || *day + kDayNs > cutoff)
                continue;
            Transaction transaction(c);
            c.query("SELECT pg_advisory_xact_lock(hashtext('dmon.partitions.' || $1))", {schema_},
                    "locking the partitions");
            c.query("DROP TABLE IF EXISTS " + schema_ + "." + name, {},
                    "dropping partition " + name);
            transaction.commit();
            partitions_.erase(*day);
            ++dropped;
        }
        c.query("DELETE FROM " + schema_ + ".batches WHERE received_at < $1",
                {std::to_string(cutoff)}, "forgetting old message ids");
    } catch (const PgError&) {
        if (c.broken())
            forget_connection();
        throw;
    }
    return dropped;
}

// ---- PgReader ----

namespace {
constexpr const char* kSnapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
// SQLite compares text byte by byte; so does the C collation, whatever the database's default.
constexpr const char* kKeyOrder =
    " ORDER BY s.host COLLATE \"C\", s.name COLLATE \"C\", s.labels COLLATE \"C\", "
    "s.type COLLATE \"C\"";
}  // namespace

PgReader::PgReader(const ConnectionSettings& settings)
    : schema_(settings.schema), connection_(settings) {
    prepare_schema(connection_, schema_, false);
}

std::vector<std::string> PgReader::hosts() {
    auto rows = connection_.query(
        "SELECT host FROM " + schema_ + ".series GROUP BY host ORDER BY host COLLATE \"C\"", {},
        "listing hosts");
    std::vector<std::string> out;
    for (int i = 0; i < rows.rows(); ++i)
        out.emplace_back(rows.text(i, 0));
    return out;
}

std::vector<MetricInfo> PgReader::metrics() {
    auto rows =
        connection_.query("SELECT name, type, count(*), count(DISTINCT host) FROM " + schema_ +
                              ".series GROUP BY name, type ORDER BY name COLLATE \"C\", "
                              "type COLLATE \"C\"",
                          {}, "listing metrics");
    std::vector<MetricInfo> out;
    for (int i = 0; i < rows.rows(); ++i)
        out.push_back({std::string(rows.text(i, 0)), std::string(rows.text(i, 1)),
                       rows.integer(i, 2), rows.integer(i, 3)});
    return out;
}

std::optional<std::string> PgReader::metric_type(const std::string& metric) {
    auto rows = connection_.query("SELECT type FROM " + schema_ + ".series WHERE name = $1 LIMIT 1",
                                  {metric}, "looking up a metric");
    if (rows.rows() == 0)
        return std::nullopt;
    return std::string(rows.text(0, 0));
}

std::vector<PgReader::Series> PgReader::find_series(const std::string& metric,
                                                    const std::optional<std::string>& host) {
    std::string sql =
        "SELECT s.id, s.host, s.name, s.labels, s.type FROM " + schema_ + ".series s WHERE true";
    std::vector<std::optional<std::string>> params;
    if (!metric.empty()) {
        params.emplace_back(metric);
        sql += " AND s.name = $" + std::to_string(params.size());
    }
    if (host) {
        params.emplace_back(*host);
        sql += " AND s.host = $" + std::to_string(params.size());
    }
    auto rows = connection_.query(sql + kKeyOrder, params, "listing series");
    std::vector<Series> out;
    out.reserve(static_cast<size_t>(rows.rows()));
    for (int i = 0; i < rows.rows(); ++i) {
        out.push_back({rows.integer(i, 0),
                       Row{std::string(rows.text(i, 1)), std::string(rows.text(i, 2)),
                           std::string(rows.text(i, 3)), std::string(rows.text(i, 4)), 0, 0}});
    }
    return out;
}

std::vector<Row> PgReader::series(const std::string& metric,
                                  const std::optional<std::string>& host) {
    std::vector<Row> out;
    for (auto& s : find_series(metric, host))
        out.push_back(std::move(s.row));
    return out;
}

std::vector<Row> PgReader::latest(const std::optional<std::string>& host,
                                  const std::string& metric) {
    std::string sql = "SELECT s.host, s.name, s.labels, s.type, l.ts, l.value FROM " + schema_ +
                      ".series s CROSS JOIN LATERAL (SELECT ts, value FROM " + schema_ +
                      ".samples p WHERE p.series_id = s.id ORDER BY ts DESC LIMIT 1) l WHERE true";
    std::vector<std::optional<std::string>> params;
    if (host) {
        params.emplace_back(*host);
        sql += " AND s.host = $" + std::to_string(params.size());
    }
    if (!metric.empty()) {
        params.emplace_back(metric);
        sql += " AND s.name = $" + std::to_string(params.size());
    }
    auto rows = connection_.query(sql + kKeyOrder, params, "reading the newest points");
    std::vector<Row> out;
    for (int i = 0; i < rows.rows(); ++i) {
        out.push_back({std::string(rows.text(i, 0)), std::string(rows.text(i, 1)),
                       std::string(rows.text(i, 2)), std::string(rows.text(i, 3)),
                       rows.integer(i, 4), rows.real(i, 5)});
    }
    return out;
}

std::vector<std::pair<std::string, int64_t>> PgReader::last_seen() {
    auto rows =
        connection_.query("SELECT s.host, max(l.ts) FROM " + schema_ +
                              ".series s CROSS JOIN LATERAL (SELECT ts FROM " + schema_ +
                              ".samples p WHERE p.series_id = s.id ORDER BY ts DESC LIMIT 1) l "
                              "GROUP BY s.host ORDER BY s.host COLLATE \"C\"",
                          {}, "reading when hosts were last seen");
    std::vector<std::pair<std::string, int64_t>> out;
    for (int i = 0; i < rows.rows(); ++i)
        out.emplace_back(std::string(rows.text(i, 0)), rows.integer(i, 1));
    return out;
}

StoreStats PgReader::stats() {
    Transaction snapshot(connection_, kSnapshot);
    StoreStats stats;
    stats.schema_version = kSchemaVersion;
    stats.series =
        connection_.query("SELECT count(*) FROM " + schema_ + ".series", {}, "counting series")
            .integer(0, 0);
    auto samples = connection_.query(
        "SELECT count(*), min(ts), max(ts) FROM " + schema_ + ".samples", {}, "counting samples");
    stats.samples = samples.integer(0, 0);
    if (!samples.is_null(0, 1)) {
        stats.oldest_ns = samples.integer(0, 1);
        stats.newest_ns = samples.integer(0, 2);
    }
    // Partitions stand where SQLite's chunks do: the unit retention removes.
    stats.chunks = connection_
                       .query(
                           "SELECT count(*) FROM pg_inherits WHERE inhparent = "
                           "to_regclass($1 || '.samples')",
                           {schema_}, "counting partitions")
                       .integer(0, 0);
    stats.bytes = connection_
                      .query(
                          "SELECT coalesce(sum(pg_total_relation_size(k.oid)), 0) FROM pg_class "
                          "k JOIN pg_namespace n ON n.oid = k.relnamespace WHERE n.nspname = "
                          "$1 AND k.relkind = 'r'",
                          {schema_}, "measuring the tables")
                      .integer(0, 0);
    snapshot.commit();
    return stats;
}

void PgReader::scan(const std::string& metric, const std::optional<std::string>& host,
                    QueryRange range, bool rate,
                    const std::function<bool(const Row&, const std::vector<Point>&)>& visit,
                    const std::function<bool(const Row&)>& wanted) {
    Transaction snapshot(connection_, kSnapshot);
    auto series = find_series(metric, host);
    if (wanted)
        std::erase_if(series, [&](const Series& s) { return !wanted(s.row); });
    // A few hundred series a query: one round trip for many small series, and at most that
    // many series' points in memory at once.
    constexpr size_t kGroup = 256;
    std::unordered_map<int64_t, std::vector<Point>> points;
    std::vector<Point> rates;
    Row row;
    for (size_t first = 0; first < series.size(); first += kGroup) {
        const size_t end = std::min(series.size(), first + kGroup);
        std::vector<int64_t> ids;
        for (size_t i = first; i < end; ++i)
            ids.push_back(series[i].id);
        auto rows = connection_.query(
            "SELECT series_id, ts, value FROM " + schema_ +
                ".samples WHERE series_id = ANY($1::bigint[]) AND ts BETWEEN $2 AND $3 "
                "ORDER BY series_id, ts",
            {id_array(ids), std::to_string(range.from_ns), std::to_string(range.to_ns)},
            "reading points");
        points.clear();
        for (int i = 0; i < rows.rows(); ++i) {
            auto& list = points[rows.integer(i, 0)];
            const int64_t ts = rows.integer(i, 1);
            if (!list.empty() && list.back().ts == ts)
                continue;  // one point per timestamp, as the SQLite store keeps
            list.push_back({ts, rows.real(i, 2)});
        }
        static const std::vector<Point> none;
        for (size_t i = first; i < end; ++i) {
            const auto it = points.find(series[i].id);
            const auto& list = it != points.end() ? it->second : none;
            row = series[i].row;
            const bool as_rate = rate && row.type == "counter";
            if (as_rate) {
                counter_rates(list, rates);
                row.type = "rate";
            }
            if (!visit(row, as_rate ? rates : list)) {
                snapshot.commit();
                return;
            }
        }
    }
    snapshot.commit();
}

}  // namespace dmon::store::pg
