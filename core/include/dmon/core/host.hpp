#pragma once

#include "dmon/core/asio.hpp"
#include "dmon/core/collector_runner.hpp"
#include "dmon/core/config.hpp"
#include "dmon/core/plugin_library.hpp"
#include "dmon/core/router.hpp"
#include "dmon/core/sink_runner.hpp"

#include <iosfwd>
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

// A running plugin set: one io_context and a small thread pool, a runner per collector, a
// runner per sink, the router between them, and the self-metrics collector.
class Host {
  public:
    Host(HostConfig config, std::shared_ptr<PluginCatalog> catalog);
    ~Host();

    const HostConfig& config() const { return config_; }
    const std::string& node() const { return config_.node; }

    // Plans and creates every instance, then starts them. Throws ConfigError or PluginLoadError;
    // nothing keeps running after a throw.
    void start();
    // Stops collectors, drains and flushes sinks (up to shutdown_timeout), joins the threads.
    void stop();

    asio::io_context& io() { return io_; }
    const std::vector<std::shared_ptr<CollectorRunner>>& collectors() const { return collectors_; }
    const std::vector<std::shared_ptr<SinkRunner>>& sinks() const { return sinks_; }

  private:
    dmon_status collect_self_metrics(dmon_emitter& emitter);

    HostConfig config_;
    std::shared_ptr<PluginCatalog> catalog_;
    asio::io_context io_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
    std::vector<std::thread> threads_;
    std::shared_ptr<Router> router_ = std::make_shared<Router>();
    std::vector<std::shared_ptr<CollectorRunner>> collectors_;
    std::vector<std::shared_ptr<SinkRunner>> sinks_;
    std::shared_ptr<CollectorRunner> self_metrics_;
    bool running_ = false;
};

// `dmon once`: one round of every collector, printed as line protocol. Collectors that need
// two readings are primed first. Returns the number of collectors that failed.
int collect_once(const HostConfig& config, PluginCatalog& catalog, std::ostream& out);

}  // namespace dmon::core
