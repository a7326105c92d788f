// What a running host says about itself over the control endpoint: `dmonctl status` (every
// instance, and where each sink's undelivered data is) and `dmonctl health` (one line, an exit
// code for alerting), and the outcome of the last reload.
#include "dmon/core/host.hpp"
#include "dmon/core/text.hpp"

#include <cstdio>
#include <ctime>

namespace dmon::core {

namespace {
int64_t wall_now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A moment for status lines, or "never" for 0.
std::string utc_time(int64_t ns) {
    return ns <= 0 ? std::string("never") : format_time_utc(ns);
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
                       ", config " + config()->file + "\nlast reload: " + last_reload + "\n";
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
                format_bytes(static_cast<double>(stats.queued_bytes)) + ")\t" +
                (limit > 0 ? std::to_string(stats.spooled_samples.load()) + " samples (" +
                                 format_bytes(static_cast<double>(stats.spooled_bytes)) + ")"
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
    if (!failed.empty()) {
        return "failed: " + join(failed, "; ") +
               (degraded.empty() ? "" : "; " + join(degraded, "; ")) + "\n";
    }
    if (!degraded.empty())
        return "degraded: " + join(degraded, "; ") + "\n";
    return "healthy: " + std::to_string(collectors().size()) + " collector(s) and " +
           std::to_string(sinks().size()) + " sink(s) delivering\n";
}

}  // namespace dmon::core
