#pragma once
// What each metric dmon ships means: its unit and one line of help. Samples carry neither
// (they are the same for every sample of a name); readers that show or export them look them
// up here: dmonctl and its page (units), the Prometheus sinks (name suffixes, # HELP, # UNIT).
// docs/metrics.md is the prose of the same table; a test checks that the two agree.
//
// Units are UCUM as OpenTelemetry writes them: "By" bytes, "s" seconds, "1" a ratio 0..1,
// "{operations}" and the like for counts (an annotation, not a unit), "" none.
#include <string_view>

namespace dmon {

struct MetricInfo {
    std::string_view name;
    std::string_view unit;
    std::string_view help;
};

inline constexpr MetricInfo kShippedMetrics[] = {
    // proc_cpu, wmi_cpu
    {"system.cpu.time", "s", "Seconds each CPU spent in each state"},
    {"system.cpu.utilization", "1", "Share of time a CPU was not idle since the last round"},
    // proc_mem, wmi_mem
    {"system.memory.limit", "By", "Total physical memory"},
    {"system.memory.usage", "By", "Memory in use, by state"},
    {"system.memory.available", "By", "Memory available to new work"},
    {"system.paging.usage", "By", "Swap space, by state"},
    // proc_disk, wmi_disk
    {"system.disk.operations", "{operations}", "Disk operations completed"},
    {"system.disk.io", "By", "Bytes read from and written to disk"},
    {"system.disk.merged", "{operations}", "Disk operations merged"},
    {"system.disk.operation_time", "s", "Seconds spent on disk operations"},
    {"system.disk.io_time", "s", "Seconds a disk was busy"},
    // proc_net, wmi_net
    {"system.network.io", "By", "Bytes received and transmitted"},
    {"system.network.packets", "{packets}", "Packets received and transmitted"},
    {"system.network.errors", "{errors}", "Network errors"},
    {"system.network.dropped", "{packets}", "Packets dropped"},
    // The host's own collector
    {"dmon.collector.samples", "{samples}", "Samples collected by a collector instance"},
    {"dmon.collector.errors", "{errors}", "Failed collect() calls"},
    {"dmon.collector.skipped", "{ticks}", "Collector ticks not run (overrun or back-off)"},
    {"dmon.collector.duration", "s", "Duration of the last collect()"},
    {"dmon.sink.samples", "{samples}", "Samples a sink durably took"},
    {"dmon.sink.errors", "{errors}", "Failed write() calls, each retried"},
    {"dmon.sink.dropped", "{samples}", "Samples a sink dropped, by reason"},
    {"dmon.sink.queued", "", "Undelivered samples and bytes in memory"},
    {"dmon.sink.spooled", "", "Undelivered samples and bytes in the spool"},
    {"dmon.sink.spool_corrupt_records", "{records}", "Damaged spool records found and skipped"},
    {"dmon.sink.connected", "", "1 while a sink's writes succeed, 0 after a failed write"},
    {"dmon.sink.oldest_unsent_age", "s", "Age of the oldest batch not yet delivered"},
    {"dmon.sink.duration", "s", "Duration of the last write()"},
    {"dmon.host.generation", "", "The running plugin-set generation"},
    {"dmon.host.reloads", "{reloads}", "Reloads of the plugin set, by result"},
    {"dmon.fleet.commands", "{commands}",
     "Fleet-control commands received, by result (obeyed or why refused)"},
    {"process.cpu.time", "s", "CPU seconds the dmon process used"},
    {"process.memory.usage", "By", "Resident memory of the dmon process"},
    {"process.uptime", "s", "Seconds since the dmon host started"},
    // Plugins' own counters
    {"dmon.plugin.messages", "{messages}", "AMQP messages received and handed to the sinks"},
    {"dmon.plugin.requeued_messages", "{messages}", "AMQP messages given back to the broker"},
    {"dmon.plugin.unencodable_samples", "{samples}", "NaN or infinite values a sink cannot carry"},
    {"dmon.consume.rejected", "{messages}", "AMQP messages refused, by reason"},
    {"dmon.plugin.redelivered_batches", "{batches}", "Batches already stored, skipped"},
    {"dmon.plugin.duplicate_samples", "{samples}", "Samples whose series and time were stored"},
    {"dmon.store.refused_samples", "{samples}", "Samples of new series past the store's limits"},
    {"dmon.store.sealed_samples", "{samples}", "Samples moved from the head into chunks"},
    {"dmon.store.seal_errors", "{errors}", "Seals of the store's head that failed"},
    {"dmon.prometheus.refused_samples", "{samples}", "Samples the prometheus sink refused"},
};

// The entry of a shipped metric, or nullptr for one dmon does not ship (a third party's).
constexpr const MetricInfo* find_metric(std::string_view name) {
    for (const MetricInfo& info : kShippedMetrics)
        if (info.name == name)
            return &info;
    return nullptr;
}

}  // namespace dmon
