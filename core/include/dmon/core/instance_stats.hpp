#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string_view>
#include <mutex>
#include <string>

namespace dmon::core {

// Counters of one running instance, written by its runner and read by the self-metrics
// collector (and, later, `dmonctl status`) from other threads.
struct InstanceStats {
    std::atomic<uint64_t> rounds{0};          // collect() or write() calls that succeeded
    std::atomic<uint64_t> samples{0};         // collected (collector) or written (sink)
    std::atomic<uint64_t> errors{0};          // failed calls
    std::atomic<uint64_t> dropped{0};         // sink: samples dropped because its queue was full
    std::atomic<uint64_t> skipped_rounds{0};  // collector: ticks missed (overrun or back-off)
    std::atomic<uint64_t> queue_depth{0};     // sink: samples waiting
    std::atomic<int64_t> last_duration_ns{0};

    void set_last_error(std::string text) {
        std::lock_guard lock(mutex_);
        last_error_ = std::move(text);
    }
    std::string last_error() const {
        std::lock_guard lock(mutex_);
        return last_error_;
    }

    // The plugin's own counters (dmon_host_api.count), by name.
    void add_to_counter(std::string_view name, uint64_t delta) {
        std::lock_guard lock(mutex_);
        auto it = plugin_counters_.find(name);
        if (it == plugin_counters_.end())
            it = plugin_counters_.emplace(std::string(name), 0).first;
        it->second += delta;
    }
    std::map<std::string, uint64_t, std::less<>> plugin_counters() const {
        std::lock_guard lock(mutex_);
        return plugin_counters_;
    }

  private:
    mutable std::mutex mutex_;
    std::string last_error_;
    std::map<std::string, uint64_t, std::less<>> plugin_counters_;
};

}  // namespace dmon::core
