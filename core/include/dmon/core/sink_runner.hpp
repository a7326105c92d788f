#pragma once

#include "dmon/core/asio.hpp"
#include "dmon/core/instance_stats.hpp"
#include "dmon/core/plugin_instance.hpp"
#include "dmon/core/sample_batch.hpp"

#include <chrono>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>

namespace dmon::core {

struct SinkSettings {
    size_t batch_size = 1000;  // samples per write()
    std::chrono::nanoseconds flush_interval{
        std::chrono::seconds(1)};  // longest wait for a full batch
    size_t queue_size = 100000;    // samples queued before dropping
};

// Feeds one sink instance: a bounded queue of routed batches, written in batches of up to
// batch_size samples, on the instance's own strand (so the plugin is never called
// concurrently with itself). A failed write is retried with back-off; the batch stays at the
// head of the queue. When the queue is full, batches of periodic collectors are dropped and
// counted; batches that carry a completion token are always taken (their source is bounded
// by its own prefetch and is told to slow down through congested()).
class SinkRunner : public std::enable_shared_from_this<SinkRunner> {
  public:
    // `instance` may be null in tests that drive the runner with `write` below.
    using WriteFn = std::function<dmon_status(const dmon_batch&, std::string&)>;
    SinkRunner(asio::io_context& io, std::shared_ptr<PluginInstance> instance,
               SinkSettings settings);
    SinkRunner(asio::io_context& io, std::string name, WriteFn write, SinkSettings settings);

    const std::string& name() const { return name_; }
    const std::shared_ptr<PluginInstance>& instance() const { return instance_; }
    const std::shared_ptr<InstanceStats>& stats() const { return stats_; }

    // Thread-safe. Returns false when the batch was dropped (queue full).
    bool enqueue(SharedBatch batch);
    bool congested() const;

    // Writes everything queued (retrying failures until `deadline`), then flushes the plugin.
    // What is still unwritten at the deadline is dropped, counted and logged; tokens fail.
    // Blocks the caller until done; never call it from an io_context thread.
    void drain(std::chrono::steady_clock::time_point deadline);

  private:
    void kick();        // on the strand: start a write chain or arm the flush timer
    void write_some();  // on the strand
    void finish_drain_if_done();
    void give_up_remaining(const std::string& reason);

    std::string name_;
    std::shared_ptr<PluginInstance> instance_;
    WriteFn write_;
    SinkSettings settings_;
    Strand strand_;
    asio::steady_timer flush_timer_;
    asio::steady_timer retry_timer_;
    std::shared_ptr<InstanceStats> stats_ = std::make_shared<InstanceStats>();

    mutable std::mutex mutex_;
    std::deque<SharedBatch> queue_;
    size_t queued_samples_ = 0;
    bool busy_ = false;         // a write chain runs or waits to retry
    bool timer_armed_ = false;  // the flush timer waits for a full batch
    uint64_t timer_generation_ = 0;

    // Strand-only state.
    int consecutive_failures_ = 0;
    uint64_t dropped_since_log_ = 0;
    std::chrono::steady_clock::time_point last_drop_log_{};
    bool draining_ = false;
    std::chrono::steady_clock::time_point drain_deadline_{};
    std::optional<std::promise<void>> drained_;
    std::vector<dmon_sample> c_samples_;  // reused between writes
    std::vector<dmon_label> c_labels_;
    std::vector<dmon_origin> c_origins_;
};

}  // namespace dmon::core
