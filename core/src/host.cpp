#include "dmon/core/host.hpp"

#include <dmon/line_protocol.hpp>

#include "dmon/core/logging.hpp"

#include <boost/asio/ip/host_name.hpp>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <ostream>

namespace dmon::core {

std::string machine_name() {
    boost::system::error_code ec;
    std::string name = boost::asio::ip::host_name(ec);
    return ec || name.empty() ? std::string("localhost") : name;
}

std::vector<std::string> plugin_folders(const HostConfig& config) {
    std::vector<std::string> folders = config.plugin_paths;
    if (const char* extra = std::getenv("DMON_PLUGIN_PATH"); extra != nullptr && *extra) {
#ifdef _WIN32
        const char separator = ';';
#else
        const char separator = ':';
#endif
        std::string list = extra;
        size_t start = 0;
        while (start <= list.size()) {
            size_t end = list.find(separator, start);
            if (end == std::string::npos)
                end = list.size();
            if (end > start)
                folders.push_back(list.substr(start, end - start));
            start = end + 1;
        }
    }
    folders.push_back(PluginCatalog::default_folder());
    return folders;
}

PluginSetPlan plan_plugins(const HostConfig& config, PluginCatalog& catalog) {
    PluginSetPlan plan;
    std::vector<std::string> errors;
    auto plan_one = [&](const InstanceConfig& instance, std::vector<PlannedInstance>& out) {
        const std::string where = instance.location.to_string() + ": " + instance.describe() + ": ";
        std::shared_ptr<const PluginLibrary> library;
        try {
            library = catalog.load(instance.plugin);
        } catch (const PluginLoadError& e) {
            errors.push_back(where + e.what());
            return;
        }
        const bool want_collector = instance.kind == InstanceKind::collector;
        if ((library->kind() == DMON_KIND_COLLECTOR) != want_collector) {
            errors.push_back(where + "plugin '" + instance.plugin + "' is a " +
                             (want_collector ? "sink" : "collector") + "; list it under " +
                             (want_collector ? "sinks:" : "collectors:"));
            return;
        }
        const auto& descriptor = library->descriptor();
        OptionSet options = validate_options(
            instance,
            std::span<const dmon_option_decl>(descriptor.options, descriptor.option_count), errors);
        out.push_back(PlannedInstance{instance, library, std::move(options)});
    };
    for (const auto& instance : config.collectors)
        plan_one(instance, plan.collectors);
    for (const auto& instance : config.sinks)
        plan_one(instance, plan.sinks);
    if (!errors.empty())
        throw ConfigError(std::move(errors));
    return plan;
}

Host::Host(HostConfig config, std::shared_ptr<PluginCatalog> catalog)
    : config_(std::move(config)), catalog_(std::move(catalog)) {
    if (config_.node.empty())
        config_.node = machine_name();
}

Host::~Host() {
    stop();
}

std::string ReloadOutcome::summary() const {
    auto list = [](const std::vector<std::string>& names) {
        std::string text;
        for (const auto& name : names)
            text += (text.empty() ? "" : ", ") + name;
        return text.empty() ? std::string("-") : text;
    };
    if (!ok) {
        std::string text = "reload failed; generation " + std::to_string(generation) +
                           " keeps running unchanged\n";
        for (const auto& error : errors)
            text += "error: " + error + "\n";
        return text;
    }
    return "reload ok: generation " + std::to_string(generation) + "\nadded: " + list(added) +
           "\nchanged: " + list(changed) + "\nremoved: " + list(removed) + "\nkept: " + list(kept) +
           "\n";
}

std::string Host::fingerprint(const PlannedInstance& planned, const HostConfig& config) const {
    const auto& instance = planned.config;
    const auto interval = instance.interval.count() > 0 ? instance.interval : config.interval;
    const auto flush =
        instance.flush_interval.count() > 0 ? instance.flush_interval : config.interval;
    return instance.options_fingerprint + "\n" + config.node + "\n" +
           std::to_string(interval.count()) + "\n" + std::to_string(flush.count()) + "\n" +
           planned.library->path() + "\n" + planned.library->stamp();
}

void Host::start() {
    std::lock_guard serial(reload_mutex_);
    work_.emplace(io_.get_executor());
    for (int i = 0; i < config_.threads; ++i)
        threads_.emplace_back([this] { io_.run(); });
    running_ = true;
    ReloadOutcome outcome;
    try {
        apply(config_, outcome);
    } catch (...) {
        stop();
        throw;
    }
    if (config_.self_metrics) {
        self_metrics_ = std::make_shared<CollectorRunner>(
            io_, "dmon", config_.interval,
            [this](dmon_emitter& emitter, std::string&) { return collect_self_metrics(emitter); },
            router_, config_.node);
        self_metrics_->start();
    }
    logger().info("[host] node '{}' running {} collector(s) and {} sink(s) from {}", config_.node,
                  collectors().size(), sinks().size(), config_.file);
}

// Plans and creates what is new or changed (throwing leaves everything as it was), then swaps.
void Host::apply(HostConfig config, ReloadOutcome& outcome) {
    if (!node_override_.empty())
        config.node = node_override_;
    if (config.node.empty())
        config.node = machine_name();
    PluginSetPlan plan = plan_plugins(config, *catalog_);
    if (plan.sinks.empty()) {
        throw ConfigError({config.file +
                           ": no sinks: samples would go nowhere; add one under 'sinks:' "
                           "(e.g. '- plugin: stdout')"});
    }
    std::map<std::string, std::shared_ptr<CollectorRunner>> old_collectors;
    std::map<std::string, std::shared_ptr<SinkRunner>> old_sinks;
    std::map<std::string, std::string> old_fingerprints;
    {
        std::lock_guard lock(state_mutex_);
        for (const auto& runner : collectors_)
            old_collectors[runner->name()] = runner;
        for (const auto& runner : sinks_)
            old_sinks[runner->name()] = runner;
        old_fingerprints = fingerprints_;
    }
    std::map<std::string, std::string> new_fingerprints;
    // Create every new or changed instance before touching anything that runs.
    std::vector<std::shared_ptr<SinkRunner>> next_sinks;
    std::vector<std::shared_ptr<CollectorRunner>> next_collectors, started;
    std::vector<std::string> replaced;
    std::vector<std::shared_ptr<SinkRunner>> started_sinks;
    auto plan_one = [&](PlannedInstance& planned, bool sink) {
        const std::string key = std::string(sink ? "sink/" : "collector/") + planned.config.name;
        const std::string print = fingerprint(planned, config);
        new_fingerprints[key] = print;
        auto previous = old_fingerprints.find(key);
        const bool existed = previous != old_fingerprints.end();
        if (existed && previous->second == print) {
            outcome.kept.push_back(planned.config.name);
            if (sink)
                next_sinks.push_back(old_sinks.at(planned.config.name));
            else
                next_collectors.push_back(old_collectors.at(planned.config.name));
            return;
        }
        (existed ? outcome.changed : outcome.added).push_back(planned.config.name);
        if (existed)
            replaced.push_back(key);
        auto instance = std::make_shared<PluginInstance>(planned.library, planned.config,
                                                         std::move(planned.options), config.node);
        if (sink) {
            const auto& settings = instance->config();
            SinkSettings sink_settings;
            sink_settings.batch_size = settings.batch_size;
            sink_settings.flush_interval =
                settings.flush_interval.count() > 0 ? settings.flush_interval : config.interval;
            sink_settings.queue_size = settings.queue_size;
            sink_settings.overflow = settings.overflow == "drop_newest"
                                         ? OverflowPolicy::drop_newest
                                         : OverflowPolicy::drop_oldest;
            sink_settings.spool = settings.spool;
            sink_settings.spool_size = settings.spool_size;
            sink_settings.id_prefix = config.node + ":" + settings.name;
            try {
                next_sinks.push_back(std::make_shared<SinkRunner>(io_, instance, sink_settings));
            } catch (const SpoolError& e) {
                throw ConfigError(
                    {settings.location.to_string() + ": " + settings.describe() + ": " + e.what()});
            }
            started_sinks.push_back(next_sinks.back());
        } else {
            const auto interval = instance->config().interval.count() > 0
                                      ? instance->config().interval
                                      : config.interval;
            auto runner =
                std::make_shared<CollectorRunner>(io_, instance, interval, router_, config.node);
            next_collectors.push_back(runner);
            started.push_back(runner);
        }
    };
    for (auto& planned : plan.sinks)
        plan_one(planned, true);
    for (auto& planned : plan.collectors)
        plan_one(planned, false);

    // The swap. Nothing below can fail.
    std::vector<std::shared_ptr<CollectorRunner>> to_stop;
    std::vector<std::shared_ptr<SinkRunner>> to_drain;
    for (const auto& [key, print] : old_fingerprints) {
        if (new_fingerprints.contains(key) && new_fingerprints.at(key) == print)
            continue;
        const std::string name = key.substr(key.find('/') + 1);
        if (key.rfind("sink/", 0) == 0)
            to_drain.push_back(old_sinks.at(name));
        else
            to_stop.push_back(old_collectors.at(name));
        if (!new_fingerprints.contains(key))
            outcome.removed.push_back(name);
    }
    // Stop replaced collectors before their successors start: the same name never runs twice.
    for (auto& runner : to_stop)
        runner->stop();
    router_->set_sinks(next_sinks);  // returns once no batch is on its way to the old set
    {
        std::lock_guard lock(state_mutex_);
        collectors_ = next_collectors;
        sinks_ = next_sinks;
        fingerprints_ = std::move(new_fingerprints);
        const std::string node = config.node;
        config_ = std::move(config);
        config_.node = node;
    }
    for (auto& runner : started_sinks)
        runner->start();
    for (auto& runner : started) {
        const auto& library = runner->instance()->library();
        logger().info(
            "[{}] collector started: plugin {} {} from {}, every {} ms", runner->name(),
            library.name(), library.version(), library.path(),
            std::chrono::duration_cast<std::chrono::milliseconds>(runner->interval()).count());
        runner->start();
    }
    const auto deadline = std::chrono::steady_clock::now() + config_.shutdown_timeout;
    for (auto& runner : to_drain)
        runner->drain(deadline);  // their queued batches are delivered
    outcome.ok = true;
    outcome.generation = ++generation_;
}

ReloadOutcome Host::reload(HostConfig new_config) {
    std::lock_guard serial(reload_mutex_);
    ReloadOutcome outcome;
    outcome.generation = generation_;
    if (!running_) {
        outcome.errors.push_back("the host is not running");
        return outcome;
    }
    if (new_config.threads != config_.threads) {
        logger().warn("[host] threads: {} -> {} takes effect at the next start", config_.threads,
                      new_config.threads);
    }
    try {
        apply(std::move(new_config), outcome);
    } catch (const ConfigError& e) {
        outcome = ReloadOutcome{false, generation_, {}, {}, {}, {}, e.messages()};
    } catch (const std::exception& e) {
        outcome = ReloadOutcome{false, generation_, {}, {}, {}, {}, {e.what()}};
    }
    remember_reload(outcome);
    if (outcome.ok) {
        ++reloads_ok_;
        logger().info("[host] reload: generation {}: added {}, changed {}, removed {}, kept {}",
                      outcome.generation, outcome.added.size(), outcome.changed.size(),
                      outcome.removed.size(), outcome.kept.size());
    } else {
        ++reloads_failed_;
        for (const auto& error : outcome.errors)
            logger().error("[host] reload refused: {}", error);
    }
    return outcome;
}

ReloadOutcome Host::reload_from_file() {
    try {
        return reload(load_config(config_.file));
    } catch (const ConfigError& e) {
        std::lock_guard serial(reload_mutex_);
        ++reloads_failed_;
        for (const auto& error : e.messages())
            logger().error("[host] reload refused: {}", error);
        ReloadOutcome outcome{false, generation_, {}, {}, {}, {}, e.messages()};
        remember_reload(outcome);
        return outcome;
    }
}

namespace {
int64_t wall_now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// "2026-11-26T06:10:01Z", or "never" for 0.
std::string utc_time(int64_t ns) {
    if (ns <= 0)
        return "never";
    const std::time_t seconds = static_cast<std::time_t>(ns / 1'000'000'000);
    std::tm tm{};
#ifdef _WIN32
    gmtime_s(&tm, &seconds);
#else
    gmtime_r(&seconds, &tm);
#endif
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

// A spool at least this full makes the host "degraded": it still keeps everything, but an
// operator has (spool_size - used) / input rate left before the overflow policy applies.
constexpr double kSpoolDegradedFraction = 0.5;
// A drop this recent makes the host "failed": data is being lost now.
constexpr int64_t kRecentDropNs = 60'000'000'000;
}  // namespace

void Host::remember_reload(const ReloadOutcome& outcome) {
    std::string text = utc_time(wall_now_ns()) + " ";
    text += outcome.ok ? "ok, generation " + std::to_string(outcome.generation)
                       : "refused: " + (outcome.errors.empty() ? std::string("unknown error")
                                                               : outcome.errors.front());
    std::lock_guard lock(last_reload_mutex_);
    last_reload_ = std::move(text);
}

std::string Host::status_text() const {
    std::string last_reload;
    {
        std::lock_guard lock(last_reload_mutex_);
        last_reload = last_reload_.empty() ? "never" : last_reload_;
    }
    std::string text = "node " + node() + ", generation " + std::to_string(generation_) +
                       ", config " + config_.file + "\nlast reload: " + last_reload + "\n";
    text += "instance\tkind\tplugin\tversion\tlibrary\tstate\tsamples\terrors\tqueue\tlast error\n";
    auto line = [&](const std::string& name, const char* kind, const PluginInstance& instance,
                    const InstanceStats& stats, bool sink) {
        const std::string error = stats.last_error();
        const char* state = sink ? (stats.connected ? "running" : "failing")
                                 : (stats.backing_off ? "backing off" : "running");
        text += name + "\t" + kind + "\t" + instance.library().name() + "\t" +
                instance.library().version() + "\t" + instance.library().path() + "\t" + state +
                "\t" + std::to_string(stats.samples.load()) + "\t" +
                std::to_string(stats.errors.load()) + "\t" +
                std::to_string(stats.queue_depth.load()) + "\t" + (error.empty() ? "-" : error) +
                "\n";
    };
    const auto sink_runners = sinks();
    for (const auto& runner : collectors())
        line(runner->name(), "collector", *runner->instance(), *runner->stats(), false);
    for (const auto& runner : sink_runners)
        line(runner->name(), "sink", *runner->instance(), *runner->stats(), true);
    text +=
        "\nsink\tconnected\tqueued\tspooled\tspool use\toldest unsent\tdropped\tlast "
        "success\tlast error\n";
    const int64_t now = wall_now_ns();
    for (const auto& runner : sink_runners) {
        const auto& stats = *runner->stats();
        const uint64_t limit = stats.spool_limit_bytes;
        char use[32] = "-";
        if (limit > 0)
            std::snprintf(use, sizeof use, "%.1f%%", 100.0 * stats.spooled_bytes / limit);
        char age[32] = "-";
        if (stats.oldest_unsent_ns > 0)
            std::snprintf(age, sizeof age, "%.1f s", (now - stats.oldest_unsent_ns) / 1e9);
        const std::string error = stats.last_error();
        text += runner->name() + "\t" + (stats.connected ? "yes" : "no") + "\t" +
                std::to_string(stats.queue_depth.load()) + " samples (" +
                human_bytes(stats.queued_bytes) + ")\t" +
                (limit > 0 ? std::to_string(stats.spooled_samples.load()) + " samples (" +
                                 human_bytes(stats.spooled_bytes) + ")"
                           : std::string("no spool")) +
                "\t" + use + "\t" + age + "\t" + std::to_string(stats.dropped.load()) + "\t" +
                utc_time(stats.last_success_ns) + "\t" +
                (error.empty() ? "-" : utc_time(stats.last_error_ns) + " " + error) + "\n";
    }
    return text;
}

std::string Host::health_text() const {
    if (!running_)
        return "failed: the host is not running\n";
    std::vector<std::string> failed, degraded;
    const int64_t now = wall_now_ns();
    for (const auto& runner : sinks()) {
        const auto& stats = *runner->stats();
        const std::string name = "sink " + runner->name();
        if (stats.last_drop_ns > 0 && now - stats.last_drop_ns < kRecentDropNs) {
            failed.push_back(name + " dropped samples in the last minute (" +
                             std::to_string(stats.dropped.load()) + " in all)");
        }
        if (!stats.connected) {
            const std::string error = stats.last_error();
            degraded.push_back(name + " cannot deliver: " + (error.empty() ? "-" : error));
        }
        const uint64_t limit = stats.spool_limit_bytes;
        if (limit > 0 && stats.spooled_bytes >= kSpoolDegradedFraction * limit) {
            char use[32];
            std::snprintf(use, sizeof use, "%.0f%%", 100.0 * stats.spooled_bytes / limit);
            degraded.push_back(name + " spool is " + use + " full");
        }
    }
    for (const auto& runner : collectors()) {
        if (runner->stats()->backing_off) {
            degraded.push_back("collector " + runner->name() +
                               " is backing off: " + runner->stats()->last_error());
        }
    }
    auto join = [](const std::vector<std::string>& parts) {
        std::string text;
        for (const auto& part : parts)
            text += (text.empty() ? "" : "; ") + part;
        return text;
    };
    if (!failed.empty())
        return "failed: " + join(failed) + (degraded.empty() ? "" : "; " + join(degraded)) + "\n";
    if (!degraded.empty())
        return "degraded: " + join(degraded) + "\n";
    return "healthy: " + std::to_string(collectors().size()) + " collector(s) and " +
           std::to_string(sinks().size()) + " sink(s) delivering\n";
}

void Host::stop() {
    if (!running_)
        return;
    running_ = false;
    const auto collectors_now = collectors();
    const auto sinks_now = sinks();
    // Collectors first, so nothing new arrives; then every sink writes what it holds.
    for (auto& collector : collectors_now)
        collector->stop();
    if (self_metrics_)
        self_metrics_->stop();
    const auto deadline = std::chrono::steady_clock::now() + config_.shutdown_timeout;
    for (auto& sink : sinks_now)
        stopped_cleanly_ = sink->drain(deadline) && stopped_cleanly_;
    work_.reset();
    io_.stop();
    if (!stopped_cleanly_) {
        // A write() that ignores every deadline must not keep the process: leave its thread
        // (the caller exits at once; spooled batches are on disk, the rest was logged).
        for (auto& thread : threads_)
            thread.detach();
        threads_.clear();
        logger().error("[host] stopped without waiting for a stuck sink");
        return;
    }
    for (auto& thread : threads_)
        thread.join();
    threads_.clear();
    uint64_t collected = 0, written = 0, dropped = 0;
    for (auto& collector : collectors_now)
        collected += collector->stats()->samples;
    if (self_metrics_)
        collected += self_metrics_->stats()->samples;
    for (auto& sink : sinks_now) {
        written += sink->stats()->samples;
        dropped += sink->stats()->dropped;
    }
    logger().info("[host] stopped: {} samples collected, {} written, {} dropped", collected,
                  written, dropped);
    router_->set_sinks({});
    std::lock_guard lock(state_mutex_);
    collectors_.clear();
    self_metrics_.reset();
    sinks_.clear();
    fingerprints_.clear();
}

int collect_once(const HostConfig& config, PluginCatalog& catalog, std::ostream& out) {
    PluginSetPlan plan = plan_plugins(config, catalog);
    const std::string node = config.node.empty() ? machine_name() : config.node;
    std::vector<std::unique_ptr<PluginInstance>> instances;
    for (auto& planned : plan.collectors) {
        instances.push_back(std::make_unique<PluginInstance>(planned.library, planned.config,
                                                             std::move(planned.options), node));
    }
    auto round = [&](PluginInstance& instance, dmon_emitter& emitter) {
        emitter.node = node;
        emitter.source = instance.name();
        emitter.collected_at_ns = now_ns();
        std::string error;
        if (instance.collect(emitter, error) != DMON_OK) {
            logger().error("[{}] collect failed: {}", instance.name(), error);
            return false;
        }
        return true;
    };
    bool primed = false;
    for (auto& instance : instances) {
        if (!instance->needs_two_readings())
            continue;
        dmon_emitter discarded;
        round(*instance, discarded);
        primed = true;
    }
    // Long enough for CPU counters (10 ms ticks) to move, short enough for an interactive command.
    if (primed)
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    int failures = 0;
    std::string text;
    std::vector<dmon_sample> samples;
    std::vector<dmon_label> labels;
    for (auto& instance : instances) {
        dmon_emitter emitter;
        if (!round(*instance, emitter))
            ++failures;
        for (const auto& batch : emitter.batches) {
            samples.clear();
            labels.clear();
            labels.reserve(batch->label_count());
            batch->to_c(samples, labels);
            for (const auto& sample : samples)
                line_protocol::append_sample(text, sample);
        }
    }
    out << text << std::flush;
    return failures;
}

}  // namespace dmon::core
