// sqlite_store: stores samples in an SQLite file (WAL, one transaction per batch, each
// redelivered AMQP batch recognised by its message_id and stored once).
#include "sqlite_store/store.hpp"

#include <dmon/plugin.hpp>

namespace dmon::plugins::sqlite_store {

constexpr dmon_option_decl kOptions[] = {
    sdk::option("path", DMON_OPT_STRING, nullptr, "the database file; its folder is created", true),
    sdk::option("retention", DMON_OPT_DURATION, "7d", "samples older than this are removed"),
    sdk::option("synchronous", DMON_OPT_STRING, "full",
                "full: fsync every commit (survives power loss); normal: survives a crash of dmon"),
    sdk::option("max_series_per_host", DMON_OPT_INT, "10000",
                "new series of a host past this many are refused (0: no limit)"),
    sdk::option("max_series", DMON_OPT_INT, "1000000",
                "new series past this many in the store are refused (0: no limit)"),
    sdk::option("series_cache", DMON_OPT_INT, "100000", "series ids kept in memory at most"),
};

class SqliteStore : public sdk::Sink {
  public:
    explicit SqliteStore(const sdk::Context& context)
        : host_(context.host), writer_(settings(context)) {
        host_.info("storing into " + writer_.path());
        retain();
    }

    void write(const sdk::Batch& batch) override {
        const auto result = writer_.write(*batch.raw());
        if (result.skipped_batches > 0) {
            host_.count("redelivered_batches", result.skipped_batches);
            host_.info(std::to_string(result.skipped_batches) +
                       " batch(es) already stored (redelivered): skipped");
        }
        if (result.duplicate_samples > 0)
            host_.count("duplicate_samples", result.duplicate_samples);
        refused("max_series_per_host", result.refused_per_host, result.refused_host);
        refused("max_series", result.refused_total, result.refused_host);
        // Retention runs between writes, at most once a minute: cheap, and never in a hot loop.
        if (host_.now_ns() - last_retention_ns_ > 60'000'000'000)
            retain();
    }

  private:
    // Samples of new series past a cardinality limit: counted always, logged once a minute.
    void refused(const char* limit, size_t samples, const std::string& host) {
        if (samples == 0)
            return;
        host_.count(std::string("store.refused_samples{reason=") + limit + "}", samples);
        const int64_t now = host_.now_ns();
        if (now - last_refusal_log_ns_ < 60'000'000'000)
            return;
        last_refusal_log_ns_ = now;
        host_.warn("refused " + std::to_string(samples) + " sample(s) of new series (" + limit +
                   " reached; the last from host '" + escape_text(host, 100) +
                   "'); existing series are stored as before");
    }

    static SampleWriter::Settings settings(const sdk::Context& context) {
        SampleWriter::Settings settings;
        settings.path = context.options.string_value("path");
        settings.retention =
            std::chrono::nanoseconds(context.options.duration_value_ns("retention"));
        const std::string sync = context.options.string_value("synchronous");
        if (sync != "full" && sync != "normal")
            throw sdk::InvalidInput("synchronous must be full or normal, not '" + sync + "'");
        settings.synchronous_full = sync == "full";
        settings.max_series_per_host = context.options.integer_value("max_series_per_host");
        settings.max_series = context.options.integer_value("max_series");
        const int64_t cache = context.options.integer_value("series_cache");
        if (settings.max_series_per_host < 0 || settings.max_series < 0 || cache < 1)
            throw sdk::InvalidInput(
                "max_series_per_host and max_series must be >= 0, "
                "series_cache >= 1");
        settings.series_cache = static_cast<size_t>(cache);
        return settings;
    }
    void retain() {
        last_retention_ns_ = host_.now_ns();
        if (const int64_t removed = writer_.apply_retention(last_retention_ns_); removed > 0) {
            host_.info("retention removed " + std::to_string(removed) + " old samples");
        }
    }

    sdk::Host host_;
    SampleWriter writer_;
    int64_t last_retention_ns_ = 0;
    int64_t last_refusal_log_ns_ = 0;
};

}  // namespace dmon::plugins::sqlite_store

DMON_SINK_PLUGIN(dmon::plugins::sqlite_store::SqliteStore, "sqlite_store", "1.1.0",
                 "stores samples in an SQLite database (WAL), each batch exactly once",
                 dmon::plugins::sqlite_store::kOptions)
