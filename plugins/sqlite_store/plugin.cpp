// sqlite_store: stores samples in an SQLite file through the time-series store (store/): each
// batch appended to the head in one transaction with its AMQP message ids (so a redelivered
// batch is stored once), the head sealed into compressed chunks between writes.
#include <dmon/plugin.hpp>
#include <dmon/writable_path.hpp>
#include <dmon/store/writer.hpp>

#include <optional>

namespace dmon::plugins::sqlite_store {

using store::SampleWriter;

constexpr dmon_option_decl kOptions[] = {
    sdk::option("path", DMON_OPT_STRING, nullptr, "the database file; its folder is created", true),
    sdk::option("retention", DMON_OPT_DURATION, "7d",
                "chunks whose newest sample is older than this are removed"),
    sdk::option("synchronous", DMON_OPT_STRING, "full",
                "full: fsync every commit (survives power loss); normal: survives a crash of dmon"),
    sdk::option("max_series_per_host", DMON_OPT_INT, "10000",
                "new series of a host past this many are refused (0: no limit)"),
    sdk::option("max_series", DMON_OPT_INT, "1000000",
                "new series past this many in the store are refused (0: no limit)"),
    sdk::option("series_cache", DMON_OPT_INT, "100000",
                "series ids kept in memory (two generations: at most twice this)"),
    sdk::option("chunk_samples", DMON_OPT_INT, "512",
                "points per compressed chunk (more: fewer bytes, more decoding per read)"),
    sdk::option("seal_samples", DMON_OPT_INT, "250000",
                "the head is sealed into chunks when it holds this many samples"),
    sdk::option("seal_interval", DMON_OPT_DURATION, "10s",
                "... or when its oldest sample was written this long ago"),
    sdk::option("migration_backup", DMON_OPT_BOOL, "true",
                "copy a file of an older schema to FILE.schema1.bak before migrating it"),
};

class SqliteStore : public sdk::Sink {
  public:
    explicit SqliteStore(const sdk::Context& context) : host_(context.host) {
        const SampleWriter::Settings checked = settings(context);
        if (context.check_only) {
            // `dmon check`: the file must be writable (the writer makes missing folders);
            // opening it would create or migrate it.
            if (auto problem = writable_path_problem(checked.path, "path", true); !problem.empty())
                throw sdk::InvalidInput(problem);
            return;
        }
        writer_.emplace(checked);
        if (!writer_->migration_report().empty())
            host_.info(writer_->path() + ": " + writer_->migration_report());
        host_.info("storing into " + writer_->path());
        retain();
    }

    void write(const sdk::Batch& batch) override {
        const auto result = writer_->write(*batch.raw());
        if (result.skipped_batches > 0) {
            host_.count("redelivered_batches", result.skipped_batches);
            host_.info(std::to_string(result.skipped_batches) +
                       " batch(es) already stored (redelivered): skipped");
        }
        refused("max_series_per_host", result.refused_per_host, result.refused_host);
        refused("max_series", result.refused_total, result.refused_host);
        // Sealing and retention run between writes: the batch is committed (and acknowledged
        // upstream) first. SQLite has one writer, so a sealing thread would only wait for the
        // same lock.
        const int64_t now = host_.now_ns();
        try {
            if (now - last_retention_ns_ > 60'000'000'000)
                retain();
            else if (writer_->seal_due(now))
                sealed(writer_->seal());
        } catch (const std::exception& e) {
            // The batch is stored (in the head); sealing is tried again after the next batch.
            // Not thrown: the host would retry a batch that needs no retry.
            host_.count("store.seal_errors");
            if (now - last_seal_error_log_ns_ >= 60'000'000'000) {
                last_seal_error_log_ns_ = now;
                host_.warn(std::string("sealing the head into chunks failed (retried after the "
                                       "next batch; samples stay in the head meanwhile): ") +
                           e.what());
            }
        }
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
        const int64_t chunk = context.options.integer_value("chunk_samples");
        const int64_t seal = context.options.integer_value("seal_samples");
        if (chunk < 16 || chunk > 65536 || seal < 1)
            throw sdk::InvalidInput("chunk_samples must be 16..65536 and seal_samples >= 1");
        settings.chunk_samples = static_cast<uint32_t>(chunk);
        settings.seal_samples = seal;
        settings.seal_interval =
            std::chrono::nanoseconds(context.options.duration_value_ns("seal_interval"));
        settings.backup_before_migration = context.options.bool_value("migration_backup");
        sdk::Host host = context.host;
        settings.progress = [host](const std::string& line) mutable { host.info(line); };
        return settings;
    }
    void sealed(const store::SealResult& result) {
        if (result.duplicates > 0)
            host_.count("duplicate_samples", static_cast<uint64_t>(result.duplicates));
        host_.count("store.sealed_samples", static_cast<uint64_t>(result.stored));
    }
    void retain() {
        last_retention_ns_ = host_.now_ns();
        sealed(writer_->seal());
        if (const int64_t removed = writer_->apply_retention(last_retention_ns_); removed > 0) {
            host_.info("retention removed " + std::to_string(removed) + " old samples");
        }
    }

    sdk::Host host_;
    std::optional<SampleWriter> writer_;  // empty only in check mode
    int64_t last_retention_ns_ = 0;
    int64_t last_refusal_log_ns_ = 0;
    int64_t last_seal_error_log_ns_ = 0;
};

}  // namespace dmon::plugins::sqlite_store

DMON_SINK_PLUGIN(dmon::plugins::sqlite_store::SqliteStore, "sqlite_store", "2.0.0",
                 "stores samples in an SQLite file as compressed chunks, each batch exactly once",
                 dmon::plugins::sqlite_store::kOptions)
