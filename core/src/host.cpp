#include "dmon/core/host.hpp"

#include <dmon/line_protocol.hpp>

#include "dmon/core/logging.hpp"

#include <boost/asio/ip/host_name.hpp>

#include <cstdlib>
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

void Host::start() {
    PluginSetPlan plan = plan_plugins(config_, *catalog_);
    if (plan.sinks.empty()) {
        throw ConfigError({config_.file +
                           ": no sinks: samples would go nowhere; add one under 'sinks:' "
                           "(e.g. '- plugin: stdout')"});
    }
    // Create everything before starting anything: a failing create leaves nothing running.
    std::vector<std::shared_ptr<PluginInstance>> sink_instances, collector_instances;
    for (auto& planned : plan.sinks) {
        sink_instances.push_back(std::make_shared<PluginInstance>(
            planned.library, planned.config, std::move(planned.options), config_.node));
    }
    for (auto& planned : plan.collectors) {
        collector_instances.push_back(std::make_shared<PluginInstance>(
            planned.library, planned.config, std::move(planned.options), config_.node));
    }
    for (auto& instance : sink_instances) {
        const auto& settings = instance->config();
        SinkSettings sink{
            settings.batch_size,
            settings.flush_interval.count() > 0 ? settings.flush_interval : config_.interval,
            settings.queue_size};
        sinks_.push_back(std::make_shared<SinkRunner>(io_, instance, sink));
    }
    router_->set_sinks(sinks_);
    for (auto& instance : collector_instances) {
        const auto interval = instance->config().interval.count() > 0 ? instance->config().interval
                                                                      : config_.interval;
        collectors_.push_back(
            std::make_shared<CollectorRunner>(io_, instance, interval, router_, config_.node));
    }
    if (config_.self_metrics) {
        self_metrics_ = std::make_shared<CollectorRunner>(
            io_, "dmon", config_.interval,
            [this](dmon_emitter& emitter, std::string&) { return collect_self_metrics(emitter); },
            router_, config_.node);
    }

    work_.emplace(io_.get_executor());
    for (int i = 0; i < config_.threads; ++i)
        threads_.emplace_back([this] { io_.run(); });
    running_ = true;
    for (auto& collector : collectors_) {
        const auto& library = collector->instance()->library();
        logger().info(
            "[{}] collector started: plugin {} {} from {}, every {} ms", collector->name(),
            library.name(), library.version(), library.path(),
            std::chrono::duration_cast<std::chrono::milliseconds>(collector->interval()).count());
        collector->start();
    }
    for (auto& sink : sinks_) {
        const auto& library = sink->instance()->library();
        logger().info("[{}] sink started: plugin {} {} from {}", sink->name(), library.name(),
                      library.version(), library.path());
    }
    if (self_metrics_)
        self_metrics_->start();
    logger().info("[host] node '{}' running {} collector(s) and {} sink(s) from {}", config_.node,
                  collectors_.size(), sinks_.size(), config_.file);
}

void Host::stop() {
    if (!running_)
        return;
    running_ = false;
    // Collectors first, so nothing new arrives; then every sink writes what it holds.
    for (auto& collector : collectors_)
        collector->stop();
    if (self_metrics_)
        self_metrics_->stop();
    const auto deadline = std::chrono::steady_clock::now() + config_.shutdown_timeout;
    for (auto& sink : sinks_)
        sink->drain(deadline);
    work_.reset();
    io_.stop();
    for (auto& thread : threads_)
        thread.join();
    threads_.clear();
    uint64_t collected = 0, written = 0, dropped = 0;
    for (auto& collector : collectors_)
        collected += collector->stats()->samples;
    if (self_metrics_)
        collected += self_metrics_->stats()->samples;
    for (auto& sink : sinks_) {
        written += sink->stats()->samples;
        dropped += sink->stats()->dropped;
    }
    logger().info("[host] stopped: {} samples collected, {} written, {} dropped", collected,
                  written, dropped);
    router_->set_sinks({});
    collectors_.clear();
    self_metrics_.reset();
    sinks_.clear();
}

dmon_status Host::collect_self_metrics(dmon_emitter& emitter) {
    auto batch = std::make_shared<SampleBatch>("dmon");
    const int64_t now = emitter.collected_at_ns;
    const std::string& host = config_.node;
    using P = std::pair<std::string_view, std::string_view>;
    for (const auto& collector : collectors_) {
        const auto& stats = *collector->stats();
        const std::string_view name = collector->name();
        const std::string_view plugin = collector->instance()->config().plugin;
        auto add = [&](std::string_view metric, double value, dmon_sample_type type) {
            batch->add(metric, {P{"host", host}, P{"instance", name}, P{"plugin", plugin}}, value,
                       type, now);
        };
        add("dmon.collector.samples", static_cast<double>(stats.samples), DMON_COUNTER);
        add("dmon.collector.errors", static_cast<double>(stats.errors), DMON_COUNTER);
        add("dmon.collector.skipped", static_cast<double>(stats.skipped_rounds), DMON_COUNTER);
        add("dmon.collector.duration", static_cast<double>(stats.last_duration_ns) / 1e9,
            DMON_GAUGE);
        for (const auto& [counter, value] : stats.plugin_counters()) {
            add("dmon.plugin." + counter, static_cast<double>(value), DMON_COUNTER);
        }
    }
    for (const auto& sink : sinks_) {
        const auto& stats = *sink->stats();
        const std::string_view name = sink->name();
        const std::string_view plugin = sink->instance()->config().plugin;
        auto add = [&](std::string_view metric, double value, dmon_sample_type type) {
            batch->add(metric, {P{"host", host}, P{"instance", name}, P{"plugin", plugin}}, value,
                       type, now);
        };
        add("dmon.sink.samples", static_cast<double>(stats.samples), DMON_COUNTER);
        add("dmon.sink.errors", static_cast<double>(stats.errors), DMON_COUNTER);
        add("dmon.sink.dropped", static_cast<double>(stats.dropped), DMON_COUNTER);
        add("dmon.sink.queue_depth", static_cast<double>(stats.queue_depth), DMON_GAUGE);
        add("dmon.sink.duration", static_cast<double>(stats.last_duration_ns) / 1e9, DMON_GAUGE);
        for (const auto& [counter, value] : stats.plugin_counters()) {
            add("dmon.plugin." + counter, static_cast<double>(value), DMON_COUNTER);
        }
    }
    emitter.batches.push_back(std::move(batch));
    return DMON_OK;
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
