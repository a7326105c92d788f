#include "dmon/core/host.hpp"

#include <dmon/line_protocol.hpp>

#include "dmon/core/logging.hpp"
#include "dmon/core/reload_plan.hpp"
#include "dmon/core/text.hpp"

#include <boost/asio/ip/host_name.hpp>

#include <algorithm>
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

namespace {
std::shared_ptr<const HostConfig> with_node(HostConfig config) {
    if (config.node.empty())
        config.node = machine_name();
    return std::make_shared<const HostConfig>(std::move(config));
}
}  // namespace

Host::Host(HostConfig config, std::shared_ptr<PluginCatalog> catalog)
    : config_(with_node(std::move(config))), catalog_(std::move(catalog)) {}

Host::~Host() {
    stop();
}

std::string ReloadOutcome::summary() const {
    auto list = [](const std::vector<std::string>& names) {
        return names.empty() ? std::string("-") : join(names);
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
    const auto initial = config();
    work_.emplace(io_.get_executor());
    for (int i = 0; i < initial->threads; ++i)
        threads_.emplace_back([this] { io_.run(); });
    running_ = true;
    ReloadOutcome outcome;
    try {
        apply(*initial, outcome);
    } catch (...) {
        stop_locked();
        throw;
    }
    if (initial->self_metrics) {
        self_metrics_ = std::make_shared<CollectorRunner>(
            io_, "dmon", initial->interval,
            [this](dmon_emitter& emitter, std::string&) { return collect_self_metrics(emitter); },
            router_, initial->node);
        self_metrics_->start();
    }
    logger().info("[host] node '{}' running {} collector(s) and {} sink(s) from {}", initial->node,
                  collectors().size(), sinks().size(), initial->file);
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
    auto key_of = [](const PlannedInstance& planned, bool sink) {
        return std::string(sink ? "sink/" : "collector/") + planned.config.name;
    };
    for (const auto& planned : plan.sinks)
        new_fingerprints[key_of(planned, true)] = fingerprint(planned, config);
    for (const auto& planned : plan.collectors)
        new_fingerprints[key_of(planned, false)] = fingerprint(planned, config);
    const ReloadPlan diff = plan_reload(old_fingerprints, new_fingerprints);
    auto listed = [](const std::vector<std::string>& keys, const std::string& key) {
        return std::binary_search(keys.begin(), keys.end(), key);
    };
    // Create every new or changed instance before touching anything that runs.
    std::vector<std::shared_ptr<SinkRunner>> next_sinks;
    std::vector<std::shared_ptr<CollectorRunner>> next_collectors, started;
    std::vector<std::shared_ptr<SinkRunner>> started_sinks;
    auto plan_one = [&](PlannedInstance& planned, bool sink) {
        const std::string key = key_of(planned, sink);
        if (listed(diff.keep, key)) {
            outcome.kept.push_back(planned.config.name);
            if (sink)
                next_sinks.push_back(old_sinks.at(planned.config.name));
            else
                next_collectors.push_back(old_collectors.at(planned.config.name));
            return;
        }
        (listed(diff.replace, key) ? outcome.changed : outcome.added)
            .push_back(planned.config.name);
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
    for (const auto* keys : {&diff.replace, &diff.remove}) {
        for (const auto& key : *keys) {
            const std::string name = key.substr(key.find('/') + 1);
            if (key.rfind("sink/", 0) == 0)
                to_drain.push_back(old_sinks.at(name));
            else
                to_stop.push_back(old_collectors.at(name));
        }
    }
    for (const auto& key : diff.remove)
        outcome.removed.push_back(key.substr(key.find('/') + 1));
    // Stop replaced collectors before their successors start: the same name never runs twice.
    for (auto& runner : to_stop)
        runner->stop();
    router_->set_sinks(next_sinks);  // returns once no batch is on its way to the old set
    {
        std::lock_guard lock(state_mutex_);
        collectors_ = next_collectors;
        sinks_ = next_sinks;
        fingerprints_ = std::move(new_fingerprints);
        config_ = std::make_shared<const HostConfig>(std::move(config));
    }
    // An isolated instance waits for its worker on a pool thread, up to its deadline: one more
    // thread for each, so that hung workers never leave the in-process instances without the
    // `threads` they were given. The pool grows, never shrinks (until the next start).
    size_t isolated = 0;
    for (const auto& runner : next_collectors)
        isolated += runner->instance()->isolated() ? 1 : 0;
    for (const auto& runner : next_sinks)
        isolated += runner->instance() && runner->instance()->isolated() ? 1 : 0;
    while (threads_.size() < static_cast<size_t>(Host::config()->threads) + isolated)
        threads_.emplace_back([this] { io_.run(); });
    for (auto& runner : started_sinks)
        runner->start();
    for (auto& runner : started) {
        const auto& library = runner->instance()->library();
        logger().info(
            "[{}] collector started: plugin {} {} from {}{}, every {} ms", runner->name(),
            library.name(), library.version(), library.path(),
            runner->instance()->isolated() ? " (isolated: in a worker process)" : "",
            std::chrono::duration_cast<std::chrono::milliseconds>(runner->interval()).count());
        runner->start();
    }
    const auto deadline = std::chrono::steady_clock::now() + Host::config()->shutdown_timeout;
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
    if (const int threads = config()->threads; new_config.threads != threads) {
        logger().warn("[host] threads: {} -> {} takes effect at the next start", threads,
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
        HostConfig next = load_config(config()->file);
        for (const auto& warning : config_warnings(next, plugin_folders(next)))
            logger().warn("[config] {}", warning);
        return reload(std::move(next));
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

void Host::stop() {
    std::lock_guard serial(reload_mutex_);
    stop_locked();
}

void Host::stop_locked() {
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
    const auto deadline = std::chrono::steady_clock::now() + config()->shutdown_timeout;
    for (auto& sink : sinks_now) {
        if (!sink->drain(deadline))
            stopped_cleanly_ = false;
    }
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

}  // namespace dmon::core
