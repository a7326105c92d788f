#pragma once

#include "dmon/core/asio.hpp"
#include "dmon/core/instance_stats.hpp"
#include "dmon/core/outage_log.hpp"
#include "dmon/core/plugin_instance.hpp"
#include "dmon/core/sample_batch.hpp"
#include "dmon/core/sealed_batch.hpp"
#include "dmon/core/spool.hpp"

#include <atomic>
#include <chrono>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <random>

namespace dmon::core {

struct SinkSettings {
    size_t batch_size = 1000;  // samples per write()
    std::chrono::nanoseconds flush_interval{
        std::chrono::seconds(1)};  // longest wait for a full batch
    size_t queue_size = 100000;    // samples held in memory before the overflow policy applies
    OverflowPolicy overflow = OverflowPolicy::drop_oldest;
    std::string spool;                           // folder; empty: memory only
    uint64_t spool_size = uint64_t{1} << 30;     // bytes on disk before the overflow policy applies
    std::string id_prefix;                       // "<node>:<instance>": batch ids start with it
    std::chrono::milliseconds retry_cap{30000};  // longest wait between two attempts
    std::chrono::seconds outage_summary_every{30};
};

// The one owner of delivery policy for a sink instance: queueing, batching, the spool,
// retry with back-off and jitter, overflow and drop accounting, and the outage log. The sink
// plugin only writes, and says OK only when the batch is durable.
//
// Routed batches gather in an open batch; when it holds batch_size samples or flush_interval
// has passed, it is sealed under an id (SealedBatch) and joins the backlog: a bounded deque in
// memory while the sink keeps up; with `spool`, from the first failed write until the spool is
// empty again, the on-disk Spool (fsynced before the batch counts as handed over, so completion
// tokens succeed then; what waited in memory is spilled into it first, so order is kept). The
// oldest sealed batch is written until the sink takes it; a failure keeps it at the head and
// retries it, same samples and id, after retry_delay(). All of this runs on the instance's strand,
// so the plugin is never called concurrently with itself. Sources with completion tokens are never
// dropped by the overflow policy: they are slowed down through congested() instead.
class SinkRunner : public std::enable_shared_from_this<SinkRunner> {
  public:
    // `instance` may be null in tests that drive the runner with `write` below.
    using WriteFn = std::function<dmon_status(const dmon_batch&, std::string&)>;
    // Throws SpoolError when the spool cannot be opened.
    SinkRunner(asio::io_context& io, std::shared_ptr<PluginInstance> instance,
               SinkSettings settings);
    SinkRunner(asio::io_context& io, std::string name, WriteFn write, SinkSettings settings);

    const std::string& name() const { return name_; }
    const std::shared_ptr<PluginInstance>& instance() const { return instance_; }
    const std::shared_ptr<InstanceStats>& stats() const { return stats_; }
    const SinkSettings& settings() const { return settings_; }

    // Sends what a previous run left in the spool. Call once, after construction.
    void start();

    // Thread-safe. Returns false when this batch was dropped (drop_newest, queue full).
    bool enqueue(SharedBatch batch);
    bool congested() const;

    // Seals what is open and writes the backlog, retrying failures until `deadline`. What is
    // still unwritten then stays in the spool, or (memory only) is dropped, counted and
    // logged; tokens fail. Blocks the caller; never call it from an io_context thread. Returns
    // false when a write() was still running a second after the deadline.
    bool drain(std::chrono::steady_clock::time_point deadline);

  private:
    void kick();        // on the strand: start a write chain or arm the flush timer
    void write_some();  // on the strand
    void seal(bool everything);
    void to_spool(SealedBatch sealed);
    void spill();
    std::optional<SealedBatch> next_batch(std::optional<Spool::Record>& record);
    void delivered(const SealedBatch& batch, const std::optional<Spool::Record>& record);
    // The sink said the batch can never be written (DMON_INVALID: the receiver refused it):
    // dropped, counted and logged, not retried.
    void refused(const SealedBatch& batch, const std::optional<Spool::Record>& record,
                 const std::string& error);
    void forget(const SealedBatch& batch, const std::optional<Spool::Record>& record);
    void failed(const std::string& error, size_t samples);
    void drop_oldest_locked(size_t needed);
    void give_up_remaining(const std::string& reason);
    void finish_drain_if_done();
    void publish_backlog_stats();
    std::string keeping() const;

    std::string name_;
    std::shared_ptr<PluginInstance> instance_;
    WriteFn write_;
    SinkSettings settings_;
    Strand strand_;
    asio::steady_timer flush_timer_;
    asio::steady_timer retry_timer_;
    std::shared_ptr<InstanceStats> stats_ = std::make_shared<InstanceStats>();
    std::shared_ptr<Spool> spool_;
    std::string id_start_;  // id_prefix + ":" + this runner's start time in ns + ":"

    mutable std::mutex mutex_;
    std::vector<SharedBatch> open_;  // routed, not yet sealed
    size_t open_samples_ = 0;
    std::deque<SealedBatch> memory_;  // sealed, without a spool
    size_t memory_samples_ = 0;
    bool head_in_flight_ = false;  // memory_.front() is being written: overflow skips it
    bool busy_ = false;            // a write chain runs or waits to retry
    bool timer_armed_ = false;     // the flush timer waits for a full batch
    uint64_t timer_generation_ = 0;
    std::chrono::steady_clock::time_point last_drop_log_{};
    uint64_t dropped_since_log_ = 0;
    std::chrono::steady_clock::time_point last_refusal_log_{};
    uint64_t refused_since_log_ = 0;

    // Strand-only state.
    uint64_t sequence_ = 0;
    int consecutive_failures_ = 0;
    OutageLog outage_;
    std::mt19937 random_{std::random_device{}()};
    bool draining_ = false;
    bool gave_up_ = false;  // drain: the deadline passed; what is left is dropped or spooled
    std::atomic<int64_t> spool_front_sealed_at_{0};  // of the spool's oldest batch, once read
    // The batch this runner appended last, with where it lies: when it is the spool's oldest
    // (the usual case: the sink keeps up), it is written without reading it back from disk.
    struct Appended {
        SealedBatch batch;
        Spool::Record record;
    };
    std::optional<Appended> last_appended_;  // strand-only
    std::chrono::steady_clock::time_point drain_deadline_{};
    std::optional<std::promise<void>> drained_;
    CBatchView c_batch_;  // reused between writes
};

}  // namespace dmon::core
