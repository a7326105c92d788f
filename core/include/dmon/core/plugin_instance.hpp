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
    // Samples refused during one collect() call, by reason; reported after it returns
    // (dmon::core::report_refusals), so a plugin bug is named and counted, never silent.
    struct Refusals {
        size_t malformed = 0;    // empty name, or labels missing for label_count > 0
        size_t not_finite = 0;   // NaN or infinity: no store or protocol can carry them
        size_t sample_size = 0;  // samples of emit calls whose sample_size cannot be right
        size_t given_sample_size = 0;
        std::string example;  // the first refused sample, escaped: "name=value"
        size_t total() const { return malformed + not_finite + sample_size; }
    } refused;
};

namespace dmon::core {

class IsolatedPlugin;

const dmon_host_api* host_api();
int64_t now_ns();

// One line per reason a collect() call's samples were refused, e.g. "2 sample(s) refused:
// value not finite (NaN or infinity), e.g. test.ratio=nan", paired with the counter's label
// (not_finite, malformed, sample_size). Empty when nothing was refused.
std::vector<std::pair<std::string, std::string>> describe_refusals(
    const dmon_emitter::Refusals& refused);

// One created plugin instance. Creating calls the plugin's create(); destruction calls its
// destroy(). Holds its library, so the library outlives the instance.
class PluginInstance {
  public:
    // Throws PluginLoadError with "file:line:col: instance: create failed: reason". With
    // `isolate: true` in the config, the instance is created in a worker process instead.
    // `check_only`: created by `dmon check` to be validated and destroyed (DMON_CREATE_CHECK_ONLY).
    PluginInstance(std::shared_ptr<const PluginLibrary> library, const InstanceConfig& config,
                   OptionSet options, const std::string& node, bool check_only = false);
    ~PluginInstance();
    PluginInstance(const PluginInstance&) = delete;
    PluginInstance& operator=(const PluginInstance&) = delete;

    const std::string& name() const { return config_.name; }
    const InstanceConfig& config() const { return config_; }
    const PluginLibrary& library() const { return *library_; }
    const std::shared_ptr<InstanceStats>& stats() const { return host_.stats; }
    bool isolated() const { return isolated_ != nullptr; }
    int worker_pid() const;  // the isolated instance's worker process; -1: none running
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
    std::string description_;  // "collector 'x' (plugin x)": named if the plugin crashes
    OptionSet options_;
    dmon_host host_;
    std::string node_;
    void* state_ = nullptr;
    std::shared_ptr<IsolatedPlugin> isolated_;  // isolate: true; every call goes to its worker
};

}  // namespace dmon::core
