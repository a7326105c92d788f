#pragma once

#include "dmon/core/asio.hpp"
#include "dmon/core/collector_runner.hpp"
#include "dmon/core/config.hpp"
#include "dmon/core/plugin_library.hpp"
#include "dmon/core/router.hpp"
#include "dmon/core/sink_runner.hpp"

#include <atomic>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace dmon::core {

// One instance of the config, with its library loaded and its options checked; not created yet.
struct PlannedInstance {
    InstanceConfig config;
    std::shared_ptr<const PluginLibrary> library;
    OptionSet options;
};

struct PluginSetPlan {
    std::vector<PlannedInstance> collectors;
    std::vector<PlannedInstance> sinks;
};

// Loads every plugin named in the config and checks every option. Throws ConfigError that
// lists every problem (unknown plugin, wrong kind, unknown key, wrong type, ...).
PluginSetPlan plan_plugins(const HostConfig& config, PluginCatalog& catalog);

// This machine's host name, the default node id.
std::string machine_name();

// The plugin folders for a config: its plugin_paths, then $DMON_PLUGIN_PATH, then the default.
std::vector<std::string> plugin_folders(const HostConfig& config);

// What a reload did (or why it did nothing).
struct ReloadOutcome {
    bool ok = false;
    uint64_t generation = 0;  // the running generation afterwards
    std::vector<std::string> added, changed, removed, kept, errors;
    std::string summary() const;  // the text `dmonctl reload` prints
};

// A running plugin set: one io_context and a small thread pool, a runner per collector, a
// runner per sink, the router between them, and the self-metrics collector.
//
// Hot reload: reload() plans and creates the instances of the new config that are new or
// changed, and only then swaps the routing; instances whose plugin, library file and options
// did not change keep running untouched; removed and replaced collectors are stopped, removed
// and replaced sinks drained (their queued batches are written) and stopped. If anything fails
// before the swap, the running set stays exactly as it was. Reloads are serialised.
class Host {
  public:
    Host(HostConfig config, std::shared_ptr<PluginCatalog> catalog);
    ~Host();

    // The running configuration, as an immutable snapshot: a reload replaces the pointer, never
    // the object, so a reader on another thread (status, self-metrics) holds a consistent one.
    std::shared_ptr<const HostConfig> config() const {
        std::lock_guard lock(state_mutex_);
        return config_;
    }
    std::string node() const { return config()->node; }

    // Plans and creates every instance, then starts them. Throws ConfigError or PluginLoadError;
    // nothing keeps running after a throw.
    void start();
    // Stops collectors, drains and flushes sinks (up to shutdown_timeout), joins the threads.
    // Returns within shutdown_timeout plus a second, whatever a sink does; see stopped_cleanly().
    // Serialised with reload(): a reload in flight finishes first.
    void stop();
    // False when a sink's write() was still running at the deadline: its thread was left
    // behind, and the process should exit at once (std::_Exit) rather than unload plugins.
    bool stopped_cleanly() const { return stopped_cleanly_; }

    // Applies a new config to the running host. Thread-safe; never call it from an io thread.
    ReloadOutcome reload(HostConfig new_config);
    // Reads the config file again (keeping a --node override) and reloads.
    ReloadOutcome reload_from_file();
    uint64_t generation() const { return generation_; }
    // One line per instance: what `dmonctl status` prints.
    std::string status_text() const;
    // What `dmonctl health` prints: "healthy|degraded|failed: why" on one line; see Health.
    std::string health_text() const;

    asio::io_context& io() { return io_; }
    std::vector<std::shared_ptr<CollectorRunner>> collectors() const {
        std::lock_guard lock(state_mutex_);
        return collectors_;
    }
    std::vector<std::shared_ptr<SinkRunner>> sinks() const {
        std::lock_guard lock(state_mutex_);
        return sinks_;
    }

    // Samples of the host's own parts that live outside core (the fleet listener's counters),
    // added to every self-metrics round. Set before start().
    using ExtraSelfMetrics =
        std::function<void(SampleBatch& batch, const std::string& host, int64_t now_ns)>;
    void set_extra_self_metrics(ExtraSelfMetrics extra) {
        std::lock_guard lock(state_mutex_);
        extra_self_metrics_ = std::move(extra);
    }

    // Set by `dmon run --node`: survives reloads of a file that names another node.
    void set_node_override(std::string node) { node_override_ = std::move(node); }

  private:
    dmon_status collect_self_metrics(dmon_emitter& emitter);
    // The identity of an instance in a config: same text = unchanged, keep it running.
    std::string fingerprint(const PlannedInstance& planned, const HostConfig& config) const;
    void apply(HostConfig config, ReloadOutcome& outcome);
    void stop_locked();  // stop(), with reload_mutex_ held

    std::shared_ptr<const HostConfig> config_;  // guarded by state_mutex_; replaced, never changed
    std::string node_override_;
    std::mutex reload_mutex_;                          // one reload (or start, or stop) at a time
    mutable std::mutex state_mutex_;                   // guards the runner lists below
    std::map<std::string, std::string> fingerprints_;  // by "kind/name"
    std::atomic<uint64_t> generation_{0};
    std::atomic<uint64_t> reloads_ok_{0}, reloads_failed_{0};
    mutable std::mutex last_reload_mutex_;
    std::string last_reload_;  // "2026-11-26 06:10:01 ok, generation 3" or "... refused: <error>"
    void remember_reload(const ReloadOutcome& outcome);
    std::shared_ptr<PluginCatalog> catalog_;
    asio::io_context io_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
    std::vector<std::thread> threads_;
    std::shared_ptr<Router> router_ = std::make_shared<Router>();
    std::vector<std::shared_ptr<CollectorRunner>> collectors_;
    std::vector<std::shared_ptr<SinkRunner>> sinks_;
    std::shared_ptr<CollectorRunner> self_metrics_;
    ExtraSelfMetrics extra_self_metrics_;  // guarded by state_mutex_
    // Written under reload_mutex_; read without it by health_text() on the control thread.
    std::atomic<bool> running_{false};
    std::atomic<bool> stopped_cleanly_{true};
    std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
};

// `dmon once`: one round of every collector, printed as line protocol. Collectors that need
// two readings are primed first. Returns the number of collectors that failed.
int collect_once(const HostConfig& config, PluginCatalog& catalog, std::FILE* out);

}  // namespace dmon::core
