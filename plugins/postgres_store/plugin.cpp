// postgres_store: stores samples in PostgreSQL (store/src/postgres.cpp), one transaction per
// batch with the batch's message ids, so that several controllers consuming one queue store
// every sample exactly once however often a message is redelivered. A batch is written (and so
// acknowledged upstream) only once committed: a server that is away keeps batches in the broker's
// queue and the host's spool, never lost.
#include <dmon/plugin.hpp>
#include <dmon/secret_file.hpp>
#include <dmon/store/postgres.hpp>

namespace dmon::plugins::postgres_store {

namespace pg = store::pg;

constexpr dmon_option_decl kOptions[] = {
    sdk::option("conninfo", DMON_OPT_STRING, nullptr,
                "postgresql://user@host:port/dbname or 'host=... dbname=...' (libpq's syntax)",
                true),
    sdk::option("password_file", DMON_OPT_STRING, nullptr,
                "the password, first line of this file (mode 600); else libpq's environment "
                "(PGPASSWORD, PGPASSFILE, ~/.pgpass)"),
    sdk::option("sslmode", DMON_OPT_STRING, nullptr,
                "disable, allow, prefer, require, verify-ca or verify-full"),
    sdk::option("sslrootcert", DMON_OPT_STRING, nullptr,
                "CA file that signs the server's certificate (verify-ca, verify-full)"),
    sdk::option("schema", DMON_OPT_STRING, "dmon", "the PostgreSQL schema of dmon's tables"),
    sdk::option("retention", DMON_OPT_DURATION, "7d",
                "day partitions wholly older than this are dropped (0: keep everything)"),
    sdk::option("partitions_ahead", DMON_OPT_INT, "2", "days ahead whose partitions exist"),
    sdk::option("max_series_per_host", DMON_OPT_INT, "10000",
                "new series of a host past this many are refused (0: no limit)"),
    sdk::option("max_series", DMON_OPT_INT, "1000000",
                "new series past this many in the store are refused (0: no limit)"),
    sdk::option("series_cache", DMON_OPT_INT, "100000",
                "series ids kept in memory (two generations: at most twice this)"),
    sdk::option("connect_timeout", DMON_OPT_DURATION, "5s", "connecting gives up after this"),
};

class PostgresStore : public sdk::Sink {
  public:
    explicit PostgresStore(const sdk::Context& context)
        : host_(context.host), writer_(settings(context)) {
        if (context.check_only)
            return;  // `dmon check`: the settings are valid; connecting is for `run`
        try {
            writer_.connect();
            retain();
            host_.info("storing into PostgreSQL " + writer_.where());
        } catch (const pg::PgError& e) {
            // A server that is away is waited for (batches stay queued and spooled); a login or
            // a schema that cannot work is a configuration error, refused at load.
            if (e.failure() == pg::Failure::permission)
                throw sdk::InvalidInput(std::string(e.what()) +
                                        "; the user needs CREATE on the schema and INSERT on its "
                                        "tables (docs/storage.md, \"PostgreSQL\")");
            if (e.failure() != pg::Failure::unreachable)
                throw sdk::InvalidInput(e.what());
            // Said as info: the first failed write says it as the error (once, then a summary
            // while the outage lasts), and batches wait (broker queue, spool) meanwhile.
            host_.info(std::string(e.what()) + "; connecting again at the first batch");
        }
    }

    void write(const sdk::Batch& batch) override {
        const int64_t now = host_.now_ns();
        if (!writer_.connected()) {
            writer_.connect();  // throws: a failed write, retried by the host
            host_.info("connected to PostgreSQL " + writer_.where());
        }
        const auto result = writer_.write(*batch.raw(), now);
        if (result.skipped_batches > 0)
            host_.count("redelivered_batches", result.skipped_batches);
        refused("max_series_per_host", result.refused_per_host,
                "host '" + escape_text(result.refused_host, 100) + "'");
        refused("max_series", result.refused_total,
                "host '" + escape_text(result.refused_host, 100) + "'");
        refused("out_of_range", result.out_of_range,
                "timestamp " + std::to_string(result.out_of_range_ts) +
                    " ns is outside the partitions (older than the retention or more than "
                    "partitions_ahead days ahead)");
        refused("not_utf8", result.not_utf8,
                "a host, name or label that is not UTF-8 (PostgreSQL's text takes nothing else)");
        if (now - last_retention_ns_ > 60'000'000'000) {
            try {
                retain();
            } catch (const pg::PgError& e) {
                // The batch is committed; retention is tried again in a minute.
                host_.warn(std::string("retention: ") + e.what());
            }
        }
    }

  private:
    // Samples refused by a bound: counted always, logged once a minute.
    void refused(const char* reason, size_t samples, const std::string& detail) {
        if (samples == 0)
            return;
        host_.count(std::string("store.refused_samples{reason=") + reason + "}", samples);
        const int64_t now = host_.now_ns();
        if (now - last_refusal_log_ns_ < 60'000'000'000)
            return;
        last_refusal_log_ns_ = now;
        host_.warn("refused " + std::to_string(samples) + " sample(s) (" + reason +
                   "; the last: " + detail + "); the rest of the batch is stored");
    }

    void retain() {
        last_retention_ns_ = host_.now_ns();
        if (const int dropped = writer_.dropped_partitions(last_retention_ns_); dropped > 0)
            host_.info("retention dropped " + std::to_string(dropped) + " day partition(s)");
    }

    static pg::Writer::Settings settings(const sdk::Context& context) {
        const auto& options = context.options;
        pg::Writer::Settings settings;
        settings.connection.conninfo = options.string_value("conninfo");
        settings.connection.password_file = options.string("password_file").value_or("");
        settings.connection.sslmode = options.string("sslmode").value_or("");
        settings.connection.sslrootcert = options.string("sslrootcert").value_or("");
        settings.connection.schema = options.string_value("schema");
        const auto& mode = settings.connection.sslmode;
        if (!mode.empty() && mode != "disable" && mode != "allow" && mode != "prefer" &&
            mode != "require" && mode != "verify-ca" && mode != "verify-full")
            throw sdk::InvalidInput(
                "sslmode must be disable, allow, prefer, require, verify-ca "
                "or verify-full, not '" +
                mode + "'");
        if (!pg::valid_schema_name(settings.connection.schema))
            throw sdk::InvalidInput("schema '" + settings.connection.schema +
                                    "': lower-case letters, digits and _ only");
        if (pg::describe(settings.connection.conninfo) == "?")
            throw sdk::InvalidInput("conninfo cannot be parsed (libpq's URI or key=value syntax)");
        if (!settings.connection.password_file.empty()) {
            if (auto problem =
                    secret_file_problem(settings.connection.password_file, "password_file");
                !problem.empty())
                throw sdk::InvalidInput(problem);
        }
        const int64_t timeout_s = options.duration_value_ns("connect_timeout") / 1'000'000'000;
        settings.connection.connect_timeout = std::chrono::seconds(std::max<int64_t>(2, timeout_s));
        settings.retention = std::chrono::nanoseconds(options.duration_value_ns("retention"));
        const int64_t ahead = options.integer_value("partitions_ahead");
        if (ahead < 1 || ahead > 31)
            throw sdk::InvalidInput("partitions_ahead must be 1..31");
        settings.partitions_ahead = static_cast<int>(ahead);
        settings.max_series_per_host = options.integer_value("max_series_per_host");
        settings.max_series = options.integer_value("max_series");
        const int64_t cache = options.integer_value("series_cache");
        if (settings.max_series_per_host < 0 || settings.max_series < 0 || cache < 1)
            throw sdk::InvalidInput(
                "max_series_per_host and max_series must be >= 0, series_cache >= 1");
        settings.series_cache = static_cast<size_t>(cache);
        return settings;
    }

    sdk::Host host_;
    pg::Writer writer_;
    int64_t last_retention_ns_ = 0;
    int64_t last_refusal_log_ns_ = 0;
};

}  // namespace dmon::plugins::postgres_store

DMON_SINK_PLUGIN(dmon::plugins::postgres_store::PostgresStore, "postgres_store", "1.0.0",
                 "stores samples in PostgreSQL, partitioned by day, each batch exactly once "
                 "across competing controllers",
                 dmon::plugins::postgres_store::kOptions)
