#pragma once
// The store in PostgreSQL (docs/storage.md, "PostgreSQL"): one row a sample in a table
// partitioned by day, series and batch ids beside it. Written by postgres_store (several
// controllers at once), read by dmonctl and dmonctl serve through the same Reader as SQLite.
#include <dmon/plugin.h>
#include <dmon/store/reader.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

struct pg_conn;
struct pg_result;

namespace dmon::store::pg {

inline constexpr int kSchemaVersion = 1;

// What went wrong, so that the caller can say it in one clear line and decide whether to retry.
enum class Failure {
    unreachable,  // no answer, connection refused or broken: retry later
    login,        // wrong password, unknown user or database, TLS refused: fix the config
    permission,   // logged in, but may not do this (a read-only user): fix the grants
    schema,       // the schema belongs to something else, or to a newer dmon
    other,        // any other SQL error
};

class PgError : public std::runtime_error {
  public:
    PgError(Failure failure, const std::string& message, std::string sqlstate = {})
        : std::runtime_error(message), failure_(failure), sqlstate_(std::move(sqlstate)) {}
    Failure failure() const { return failure_; }
    const std::string& sqlstate() const { return sqlstate_; }

  private:
    Failure failure_;
    std::string sqlstate_;
};

struct ConnectionSettings {
    // postgresql://user@host:port/dbname?... or "host=... dbname=...": libpq's own syntax. A
    // password here works but ends up in process lists and configs: prefer password_file, or
    // libpq's environment (PGPASSWORD, PGPASSFILE, ~/.pgpass).
    std::string conninfo;
    std::string password_file;  // its first line; mode 600, like every secret file of dmon
    std::string sslmode;        // disable .. verify-full; empty: what conninfo or libpq says
    std::string sslrootcert;    // the CA that signs the server's certificate (verify-ca/full)
    std::chrono::seconds connect_timeout{5};
    std::string schema = "dmon";  // the PostgreSQL schema holding dmon's tables
};

// The server as it may be logged: user@host:port/dbname, never a password. "?" for what
// libpq cannot parse (the caller reports the parse error).
std::string describe(const std::string& conninfo);
// True for what --db takes as PostgreSQL: a postgresql:// or postgres:// URI.
bool is_postgres_uri(std::string_view db);
// A schema name dmon accepts: [a-z_][a-z0-9_]{0,62} (used unquoted in SQL).
bool valid_schema_name(std::string_view name);

// A query result, cleared on destruction.
class Result {
  public:
    explicit Result(pg_result* result) : result_(result) {}
    ~Result();
    Result(Result&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
    Result(const Result&) = delete;
    Result& operator=(const Result&) = delete;
    int rows() const;
    bool is_null(int row, int column) const;
    std::string_view text(int row, int column) const;
    int64_t integer(int row, int column) const;
    double real(int row, int column) const;
    std::string affected() const;  // PQcmdTuples: rows an INSERT/UPDATE/DELETE touched

  private:
    pg_result* result_;
};

// One connection, closed on destruction. Every failure throws PgError naming the server (never
// the password), what was being done, and the server's words.
class Connection {
  public:
    explicit Connection(const ConnectionSettings& settings);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    Result query(const std::string& sql, const std::vector<std::optional<std::string>>& params,
                 const std::string& doing);
    // Several statements without parameters (DDL), as one string.
    void script(const std::string& sql, const std::string& doing);
    // COPY ... FROM STDIN with `data` in text format.
    void copy_in(const std::string& sql, std::string_view data, const std::string& doing);
    bool broken() const;  // the connection is gone: make a new one
    const std::string& where() const { return where_; }
    const std::string& user() const { return user_; }

  private:
    PgError error(const std::string& doing, pg_result* result) const;
    pg_conn* conn_ = nullptr;
    std::string where_, user_;
};

// Runs `sql` in a transaction; rolls back if destroyed before commit().
class Transaction {
  public:
    explicit Transaction(Connection& connection, const char* begin = "BEGIN");
    ~Transaction();
    void commit();

  private:
    Connection& connection_;
    bool open_ = true;
};

// Creates dmon's schema (with `create`) or checks it; upgrades an older version in place, in
// one transaction. Throws PgError(schema) for a schema that holds something else or that a newer
// dmon wrote, PgError(permission) for a user that may not create it.
void prepare_schema(Connection& connection, const std::string& schema, bool create);

// The UTC day (YYYYMMDD) a timestamp falls in, and that day's start.
int64_t day_start_ns(int64_t ts_ns);
std::string day_name(int64_t day_start);

class Writer {
  public:
    struct Settings {
        ConnectionSettings connection;
        std::chrono::nanoseconds retention{std::chrono::hours(24 * 7)};  // 0: keep everything
        int partitions_ahead = 2;  // days after today whose partitions exist already
        int64_t max_series_per_host = 10'000;
        int64_t max_series = 1'000'000;
        size_t series_cache = 100'000;
    };
    struct Result {
        size_t stored = 0;
        size_t skipped_batches = 0;   // origins already stored (redeliveries)
        size_t refused_per_host = 0;  // samples of new series past max_series_per_host
        size_t refused_total = 0;     // samples of new series past max_series
        size_t out_of_range = 0;      // older than the retention, or days ahead of now
        size_t not_utf8 = 0;          // a host, name or label not UTF-8 (or with NUL)
        std::string refused_host;
        int64_t out_of_range_ts = 0;  // one of them, for the log
    };

    explicit Writer(Settings settings);
    // Connects and prepares the schema now (the constructor does not): throws PgError.
    void connect();
    bool connected() const { return connection_ != nullptr; }
    // One transaction: the batch's origins (message ids) recorded, those already there skipped
    // with their samples, the rest COPYed. Throws PgError; nothing is stored then.
    Result write(const dmon_batch& batch, int64_t now_ns);
    // Creates the partitions from today to partitions_ahead days ahead, drops those wholly
    // older than the retention, and forgets message ids older than it. Returns partitions
    // dropped.
    int dropped_partitions(int64_t now_ns);
    std::string where() const;

  private:
    Connection& connection();
    int64_t series_id(std::string_view host, std::string_view name, std::string_view labels,
                      std::string_view type, Result& result);
    void ensure_partition(int64_t day_start);
    void forget_connection();

    Settings settings_;
    std::string schema_;
    std::unique_ptr<Connection> connection_;
    std::unordered_map<std::string, int64_t> series_cache_, previous_cache_;
    std::unordered_map<std::string, int64_t> host_series_;  // as this writer last counted
    int64_t total_series_ = -1;
    std::unordered_set<int64_t> partitions_;  // day starts known to exist
    std::string key_, labels_, copy_;
};

// dmonctl's reader of a PostgreSQL store. Each call runs in one read-only repeatable-read
// transaction: one snapshot, as with SQLite.
class PgReader : public Reader {
  public:
    explicit PgReader(const ConnectionSettings& settings);
    std::vector<std::string> hosts() override;
    std::vector<MetricInfo> metrics() override;
    std::optional<std::string> metric_type(const std::string& metric) override;
    using Reader::latest;
    std::vector<Row> latest(const std::optional<std::string>& host,
                            const std::string& metric) override;
    std::vector<Row> series(const std::string& metric,
                            const std::optional<std::string>& host) override;
    StoreStats stats() override;
    std::vector<std::pair<std::string, int64_t>> last_seen() override;
    void scan(const std::string& metric, const std::optional<std::string>& host, QueryRange range,
              bool rate, const std::function<bool(const Row&, const std::vector<Point>&)>& visit,
              const std::function<bool(const Row&)>& wanted = {}) override;

  private:
    struct Series {
        int64_t id;
        Row row;
    };
    std::vector<Series> find_series(const std::string& metric,
                                    const std::optional<std::string>& host);
    std::string schema_;
    Connection connection_;
};

}  // namespace dmon::store::pg
