// The host's own samples (dmon.*, process.*): what each instance did, where undelivered data
// is, and what the process costs. Every series is reported from the first round, at 0, so an
// alert on it works before the first failure.
#include "dmon/core/host.hpp"
#include "dmon/core/process_usage.hpp"

namespace dmon::core {
namespace {

// A plugin's counter as a metric: "rejected" -> dmon.plugin.rejected; a name with a dot names
// its own family, "consume.rejected" -> dmon.consume.rejected; one label may follow in braces,
// "consume.rejected{reason=host_mismatch}" (docs/plugin-sdk.md).
struct CounterMetric {
    std::string name;
    std::pair<std::string_view, std::string_view> label;
};
CounterMetric counter_metric(std::string_view counter) {
    CounterMetric out;
    if (const size_t brace = counter.find('{');
        brace != std::string_view::npos && counter.back() == '}') {
        const std::string_view label = counter.substr(brace + 1, counter.size() - brace - 2);
        if (const size_t eq = label.find('='); eq != std::string_view::npos && eq > 0)
            out.label = {label.substr(0, eq), label.substr(eq + 1)};
        counter = counter.substr(0, brace);
    }
    out.name = counter.find('.') == std::string_view::npos ? "dmon.plugin." : "dmon.";
    out.name.append(counter);
    return out;
}

// One sample about one instance: host, instance and plugin labels, and one more if given.
struct InstanceLabels {
    std::string_view host, name, plugin;
};
void add_instance_sample(SampleBatch& batch, std::string_view metric, const InstanceLabels& who,
                         std::pair<std::string_view, std::string_view> extra, double value,
                         dmon_sample_type type, int64_t now) {
    using P = std::pair<std::string_view, std::string_view>;
    if (extra.first.empty()) {
        batch.add(metric, {P{"host", who.host}, P{"instance", who.name}, P{"plugin", who.plugin}},
                  value, type, now);
    } else {
        batch.add(metric,
                  {P{"host", who.host}, P{"instance", who.name}, P{"plugin", who.plugin}, extra},
                  value, type, now);
    }
}

}  // namespace

dmon_status Host::collect_self_metrics(dmon_emitter& emitter) {
    auto batch = std::make_shared<SampleBatch>("dmon");
    const int64_t now = emitter.collected_at_ns;
    const std::string host = node();
    using P = std::pair<std::string_view, std::string_view>;
    for (const auto& collector : collectors()) {
        const auto& stats = *collector->stats();
        const std::string_view name = collector->name();
        const std::string_view plugin = collector->instance()->config().plugin;
        auto add = [&](std::string_view metric, double value, dmon_sample_type type, P extra = {}) {
            add_instance_sample(*batch, metric, {host, name, plugin}, extra, value, type, now);
        };
        add("dmon.collector.samples", static_cast<double>(stats.samples), DMON_COUNTER);
        add("dmon.collector.errors", static_cast<double>(stats.errors), DMON_COUNTER);
        add("dmon.collector.skipped", static_cast<double>(stats.skipped_rounds), DMON_COUNTER);
        add("dmon.collector.duration", static_cast<double>(stats.last_duration_ns) / 1e9,
            DMON_GAUGE);
        for (const auto& [counter, value] : stats.plugin_counters()) {
            const CounterMetric metric = counter_metric(counter);
            add(metric.name, static_cast<double>(value), DMON_COUNTER, metric.label);
        }
    }
    for (const auto& sink : sinks()) {
        const auto& stats = *sink->stats();
        const std::string_view name = sink->name();
        const std::string_view plugin = sink->instance()->config().plugin;
        auto add = [&](std::string_view metric, double value, dmon_sample_type type, P extra = {}) {
            add_instance_sample(*batch, metric, {host, name, plugin}, extra, value, type, now);
        };
        add("dmon.sink.samples", static_cast<double>(stats.samples), DMON_COUNTER);
        add("dmon.sink.errors", static_cast<double>(stats.errors), DMON_COUNTER);
        for (size_t i = 0; i < kDropReasons.size(); ++i) {
            add("dmon.sink.dropped", static_cast<double>(stats.dropped_by_reason[i]), DMON_COUNTER,
                P{"reason", kDropReasons[i]});
        }
        add("dmon.sink.queued", static_cast<double>(stats.queue_depth), DMON_GAUGE,
            P{"unit", "samples"});
        add("dmon.sink.queued", static_cast<double>(stats.queued_bytes), DMON_GAUGE,
            P{"unit", "bytes"});
        add("dmon.sink.spooled", static_cast<double>(stats.spooled_samples), DMON_GAUGE,
            P{"unit", "samples"});
        add("dmon.sink.spooled", static_cast<double>(stats.spooled_bytes), DMON_GAUGE,
            P{"unit", "bytes"});
        add("dmon.sink.spool_corrupt_records", static_cast<double>(stats.spool_corrupt_records),
            DMON_COUNTER);
        add("dmon.sink.connected", stats.connected ? 1.0 : 0.0, DMON_GAUGE);
        const int64_t oldest = stats.oldest_unsent_ns;
        add("dmon.sink.oldest_unsent_age",
            oldest > 0 && now > oldest ? static_cast<double>(now - oldest) / 1e9 : 0.0, DMON_GAUGE);
        add("dmon.sink.duration", static_cast<double>(stats.last_duration_ns) / 1e9, DMON_GAUGE);
        for (const auto& [counter, value] : stats.plugin_counters()) {
            const CounterMetric metric = counter_metric(counter);
            add(metric.name, static_cast<double>(value), DMON_COUNTER, metric.label);
        }
    }
    batch->add("dmon.host.generation", {P{"host", host}}, static_cast<double>(generation_),
               DMON_GAUGE, now);
    batch->add("dmon.host.reloads", {P{"host", host}, P{"result", "ok"}},
               static_cast<double>(reloads_ok_), DMON_COUNTER, now);
    batch->add("dmon.host.reloads", {P{"host", host}, P{"result", "failed"}},
               static_cast<double>(reloads_failed_), DMON_COUNTER, now);
    const ProcessUsage usage = process_usage();
    batch->add("process.cpu.time", {P{"host", host}, P{"state", "user"}}, usage.user_cpu_seconds,
               DMON_COUNTER, now);
    batch->add("process.cpu.time", {P{"host", host}, P{"state", "system"}},
               usage.system_cpu_seconds, DMON_COUNTER, now);
    batch->add("process.memory.usage", {P{"host", host}}, static_cast<double>(usage.resident_bytes),
               DMON_GAUGE, now);
    batch->add(
        "process.uptime", {P{"host", host}},
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_).count(),
        DMON_GAUGE, now);
    ExtraSelfMetrics extra;
    {
        std::lock_guard lock(state_mutex_);
        extra = extra_self_metrics_;
    }
    if (extra)
        extra(*batch, host, now);
    emitter.batches.push_back(std::move(batch));
    return DMON_OK;
}

}  // namespace dmon::core
