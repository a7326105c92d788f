#pragma once

#include <array>
#include <chrono>
#include <atomic>
#include <cstdint>
#include <map>
#include <string_view>
#include <mutex>
#include <string>

namespace dmon::core {

// Why a sink runner dropped samples: each is its own dmon.sink.dropped{reason=...} series.
// refused: the sink's receiver refused the batch for good (write() returned DMON_INVALID).
enum class DropReason { queue_full, spool_full, disk_full, io_error, shutdown, refused };
inline constexpr std::array<const char*, 6> kDropReasons = {"queue_full", "spool_full", "disk_full",
                                                            "io_error",   "shutdown",   "refused"};
inline const char* to_string(DropReason reason) {
    return kDropReasons[static_cast<size_t>(reason)];
}

// Counters of one running instance, written by its runner and read by the self-metrics
// collector (and, later, `dmonctl status`) from other threads.
struct InstanceStats {
    std::atomic<uint64_t> rounds{0};          // collect() or write() calls that succeeded
    std::atomic<uint64_t> samples{0};         // collected (collector) or written (sink)
    std::atomic<uint64_t> errors{0};          // failed calls
    std::atomic<uint64_t> dropped{0};         // sink: samples dropped, all reasons
    std::atomic<uint64_t> skipped_rounds{0};  // collector: ticks missed (overrun or back-off)
    std::atomic<uint64_t> extra_rounds{0};    // collector: rounds asked for (fleet collect)
    std::atomic<uint64_t> queue_depth{0};     // sink: samples waiting in memory
    std::atomic<int64_t> last_duration_ns{0};
    std::atomic<bool> backing_off{false};  // collector: failing and waiting longer

    // Sinks: where undelivered samples are and since when, and why some were dropped.
    std::atomic<uint64_t> queued_bytes{0};
    std::atomic<uint64_t> spooled_samples{0};
    std::atomic<uint64_t> spooled_bytes{0};
    std::atomic<uint64_t> spool_limit_bytes{0};  // 0: no spool
    std::atomic<uint64_t> spool_corrupt_records{0};
    std::atomic<int64_t> oldest_unsent_ns{
        0};                             // wall clock of the oldest undelivered batch; 0: none
    std::atomic<bool> connected{true};  // false from a failed write until one succeeds
    std::atomic<int64_t> last_success_ns{0};
    std::atomic<int64_t> last_error_ns{0};
    std::array<std::atomic<uint64_t>, kDropReasons.size()> dropped_by_reason{};

    std::atomic<int64_t> last_drop_ns{0};

    void count_drop(DropReason reason, uint64_t samples) {
        last_drop_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
        dropped += samples;
        dropped_by_reason[static_cast<size_t>(reason)] += samples;
    }

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
