#include "dmon/core/sink_runner.hpp"

#include "dmon/core/logging.hpp"

#include <algorithm>

namespace dmon::core {
namespace {
using Clock = std::chrono::steady_clock;

std::chrono::milliseconds retry_delay(int failures) {
    // 100 ms, 200 ms, ... capped at 30 s: quick recovery from a blip, no hammering of a dead sink.
    const int shift = std::min(failures - 1, 9);
    return std::min(std::chrono::milliseconds(100 << std::max(shift, 0)),
                    std::chrono::milliseconds(30000));
}
}  // namespace

SinkRunner::SinkRunner(asio::io_context& io, std::shared_ptr<PluginInstance> instance,
                       SinkSettings settings)
    : name_(instance->name()),
      instance_(std::move(instance)),
      settings_(settings),
      strand_(asio::make_strand(io)),
      flush_timer_(io),
      retry_timer_(io) {
    stats_ = instance_->stats();
    write_ = [plugin = instance_.get()](const dmon_batch& batch, std::string& error) {
        return plugin->write(batch, error);
    };
}

SinkRunner::SinkRunner(asio::io_context& io, std::string name, WriteFn write, SinkSettings settings)
    : name_(std::move(name)),
      write_(std::move(write)),
      settings_(settings),
      strand_(asio::make_strand(io)),
      flush_timer_(io),
      retry_timer_(io) {}

bool SinkRunner::enqueue(SharedBatch batch) {
    if (!batch || batch->empty()) {
        if (batch && batch->token())
            batch->token()->sink_succeeded();
        return true;
    }
    bool start = false;
    {
        std::lock_guard lock(mutex_);
        const bool full = queued_samples_ + batch->size() > settings_.queue_size;
        if (full && !batch->token()) {
            stats_->dropped += batch->size();
            dropped_since_log_ += batch->size();
            // One line per 10 s at most: a stuck sink must not flood the log.
            if (Clock::now() - last_drop_log_ > std::chrono::seconds(10)) {
                logger().warn(
                    "[{}] queue full ({} samples queued, queue_size {}): dropped {} samples "
                    "from '{}' (counted in dmon.sink.dropped)",
                    name_, queued_samples_, settings_.queue_size, dropped_since_log_,
                    batch->source());
                dropped_since_log_ = 0;
                last_drop_log_ = Clock::now();
            }
            return false;
        }
        queued_samples_ += batch->size();
        stats_->queue_depth = queued_samples_;
        queue_.push_back(std::move(batch));
        start = !busy_ && (queued_samples_ >= settings_.batch_size || !timer_armed_);
    }
    if (start)
        asio::post(strand_, [self = shared_from_this()] { self->kick(); });
    return true;
}

bool SinkRunner::congested() const {
    std::lock_guard lock(mutex_);
    return queued_samples_ >= settings_.queue_size;
}

void SinkRunner::kick() {
    std::unique_lock lock(mutex_);
    if (busy_ || queue_.empty())
        return;
    if (queued_samples_ >= settings_.batch_size || draining_) {
        busy_ = true;
        timer_armed_ = false;
        ++timer_generation_;
        lock.unlock();
        flush_timer_.cancel();
        write_some();
        return;
    }
    if (timer_armed_)
        return;
    timer_armed_ = true;
    const uint64_t generation = ++timer_generation_;
    lock.unlock();
    flush_timer_.expires_after(settings_.flush_interval);
    flush_timer_.async_wait(
        asio::bind_executor(strand_, [self = shared_from_this(), generation](auto ec) {
            if (ec)
                return;
            {
                std::lock_guard lock(self->mutex_);
                if (generation != self->timer_generation_ || self->busy_)
                    return;
                self->timer_armed_ = false;
                if (self->queue_.empty())
                    return;
                self->busy_ = true;
            }
            self->write_some();
        }));
}

void SinkRunner::write_some() {
    // Take whole routed batches up to batch_size samples (at least one).
    std::vector<SharedBatch> taken;
    size_t samples = 0;
    {
        std::lock_guard lock(mutex_);
        for (const auto& batch : queue_) {
            if (!taken.empty() && samples + batch->size() > settings_.batch_size)
                break;
            taken.push_back(batch);
            samples += batch->size();
        }
        if (taken.empty()) {
            busy_ = false;
            finish_drain_if_done();
            return;
        }
    }
    c_samples_.clear();
    c_labels_.clear();
    size_t labels = 0;
    for (const auto& batch : taken)
        labels += batch->label_count();
    c_samples_.reserve(samples);
    c_labels_.reserve(labels);  // reserved once: label pointers must not move
    c_origins_.clear();
    for (const auto& batch : taken) {
        if (!batch->origin().empty()) {
            c_origins_.push_back({dmon_str{batch->origin().data(), batch->origin().size()},
                                  c_samples_.size(), batch->size()});
        }
        batch->to_c(c_samples_, c_labels_);
    }
    dmon_batch batch{sizeof(dmon_batch),  c_samples_.data(), c_samples_.size(),
                     sizeof(dmon_sample), c_origins_.data(), c_origins_.size()};

    std::string error;
    const auto started = Clock::now();
    const dmon_status status = write_(batch, error);
    stats_->last_duration_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started).count();

    if (status == DMON_OK) {
        if (consecutive_failures_ > 0) {
            logger().info("[{}] writing again after {} failed attempt(s)", name_,
                          consecutive_failures_);
        }
        consecutive_failures_ = 0;
        stats_->rounds++;
        stats_->samples += samples;
        bool more = false;
        {
            std::lock_guard lock(mutex_);
            for (size_t i = 0; i < taken.size(); ++i)
                queue_.pop_front();
            queued_samples_ -= samples;
            stats_->queue_depth = queued_samples_;
            more = !queue_.empty() && (queued_samples_ >= settings_.batch_size || draining_);
            if (!more)
                busy_ = false;
        }
        for (const auto& done : taken) {
            if (done->token())
                done->token()->sink_succeeded();
        }
        if (more) {
            asio::post(strand_, [self = shared_from_this()] { self->write_some(); });
        } else {
            kick();  // arm the flush timer for a partial batch, if any
            finish_drain_if_done();
        }
        return;
    }

    ++consecutive_failures_;
    stats_->errors++;
    stats_->set_last_error(error);
    const auto delay = retry_delay(consecutive_failures_);
    if (draining_ && Clock::now() + delay > drain_deadline_) {
        logger().error("[{}] write failed: {}", name_, error);
        give_up_remaining("the sink still fails at the shutdown deadline");
        return;
    }
    // Log the first failure and then every tenth, so a long outage stays readable.
    if (consecutive_failures_ == 1 || consecutive_failures_ % 10 == 0) {
        logger().error("[{}] write of {} samples failed (attempt {}): {}; retrying in {} ms", name_,
                       samples, consecutive_failures_, error, delay.count());
    }
    retry_timer_.expires_after(delay);
    retry_timer_.async_wait(asio::bind_executor(strand_, [self = shared_from_this()](auto ec) {
        if (!ec)
            self->write_some();
    }));
}

void SinkRunner::give_up_remaining(const std::string& reason) {
    std::deque<SharedBatch> lost;
    size_t samples = 0;
    {
        std::lock_guard lock(mutex_);
        lost.swap(queue_);
        samples = queued_samples_;
        queued_samples_ = 0;
        stats_->queue_depth = 0;
        busy_ = false;
    }
    if (samples > 0) {
        stats_->dropped += samples;
        logger().error("[{}] {}: {} queued samples were not written (counted in dmon.sink.dropped)",
                       name_, reason, samples);
    }
    for (const auto& batch : lost) {
        if (batch->token())
            batch->token()->sink_failed();
    }
    finish_drain_if_done();
}

void SinkRunner::finish_drain_if_done() {
    if (!draining_ || !drained_)
        return;
    {
        std::lock_guard lock(mutex_);
        if (!queue_.empty() || busy_)
            return;
    }
    if (instance_) {
        std::string error;
        if (instance_->flush(error) != DMON_OK)
            logger().error("[{}] flush failed: {}", name_, error);
    }
    drained_->set_value();
    drained_.reset();
}

void SinkRunner::drain(std::chrono::steady_clock::time_point deadline) {
    std::promise<void> done;
    auto finished = done.get_future();
    asio::post(strand_,
               [this, self = shared_from_this(), deadline, promise = std::move(done)]() mutable {
                   draining_ = true;
                   drain_deadline_ = deadline;
                   drained_.emplace(std::move(promise));
                   {
                       std::lock_guard lock(mutex_);
                       if (timer_armed_) {
                           timer_armed_ = false;
                           ++timer_generation_;
                           flush_timer_.cancel();
                       }
                   }
                   kick();
                   finish_drain_if_done();
               });
    // The strand enforces the deadline between retries; this wait only guards against a
    // write() that never returns.
    if (finished.wait_until(deadline + std::chrono::seconds(5)) != std::future_status::ready) {
        logger().error("[{}] did not finish draining in time (a write() is stuck)", name_);
    }
}

}  // namespace dmon::core
