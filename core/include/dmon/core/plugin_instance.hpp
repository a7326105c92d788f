#pragma once

#include <dmon/plugin.h>

#include "dmon/core/config.hpp"
#include "dmon/core/instance_stats.hpp"
#include "dmon/core/options.hpp"
#include "dmon/core/plugin_library.hpp"
#include "dmon/core/sample_batch.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

// The host's handle for one instance, as the C ABI sees it.
struct dmon_host {
    std::string instance_name;
    std::shared_ptr<dmon::core::InstanceStats> stats;
};

// Where a collector's samples go during one collect() call.
struct dmon_emitter {
    std::string node;
    int64_t collected_at_ns = 0;
    std::string source;
    std::vector<std::shared_ptr<dmon::core::SampleBatch>> batches;
    // Wraps a plugin's completion callback so that it runs on the instance's own strand.
    std::function<std::function<void(bool)>(dmon_completion_fn, void*)> bind_completion;
    size_t refused = 0;  // emits refused (bad arguments), reported after collect() returns
};

namespace dmon::core {

const dmon_host_api* host_api();
int64_t now_ns();

// One created plugin instance. Creating calls the plugin's create(); destruction calls its
// destroy(). Holds its library, so the library outlives the instance.
class PluginInstance {
  public:
    // Throws PluginLoadError with "file:line:col: instance: create failed: reason".
    PluginInstance(std::shared_ptr<const PluginLibrary> library, const InstanceConfig& config,
                   OptionSet options, const std::string& node);
    ~PluginInstance();
    PluginInstance(const PluginInstance&) = delete;
    PluginInstance& operator=(const PluginInstance&) = delete;

    const std::string& name() const { return config_.name; }
    const InstanceConfig& config() const { return config_; }
    const PluginLibrary& library() const { return *library_; }
    const std::shared_ptr<InstanceStats>& stats() const { return host_.stats; }
    bool needs_two_readings() const {
        return (library_->descriptor().flags & DMON_FLAG_NEEDS_TWO_READINGS) != 0;
    }

    // Each returns DMON_OK, or another status with the plugin's message in `error`.
    dmon_status collect(dmon_emitter& emitter, std::string& error);
    dmon_status write(const dmon_batch& batch, std::string& error);
    dmon_status flush(std::string& error);

  private:
    std::shared_ptr<const PluginLibrary> library_;  // first: destroyed last
    InstanceConfig config_;
    OptionSet options_;
    dmon_host host_;
    std::string node_;
    void* state_ = nullptr;
};

}  // namespace dmon::core
