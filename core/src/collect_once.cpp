// `dmon once`: one round of every collector, printed as line protocol, then exit.
#include "dmon/core/host.hpp"
#include "dmon/core/logging.hpp"
#include "dmon/core/print.hpp"

#include <dmon/line_protocol.hpp>

#include <cstdio>
#include <thread>

namespace dmon::core {

int collect_once(const HostConfig& config, PluginCatalog& catalog, std::FILE* out) {
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
        const dmon_status status = instance.collect(emitter, error);
        bool ok = status == DMON_OK;
        if (!ok)
            logger().error("[{}] collect failed: {}", instance.name(), error);
        // A sample refused is a plugin bug: said, and the exit status says it too.
        for (const auto& [reason, line] : describe_refusals(emitter.refused)) {
            logger().error("[{}] {}", instance.name(), line);
            ok = false;
        }
        return ok;
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
    print_to(out, text);
    return failures;
}

}  // namespace dmon::core
