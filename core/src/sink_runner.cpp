#include "dmon/core/sink_runner.hpp"

#include "dmon/core/logging.hpp"
#include "dmon/core/text.hpp"

#include <dmon/str.hpp>

#include <algorithm>

namespace dmon::core {
namespace {
using Clock = std::chrono::steady_clock;

int64_t wall_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void settle(const SealedBatch& batch, bool ok) {
    for (const auto& part : batch.parts) {
        if (part->token())
            ok ? part->token()->sink_succeeded() : part->token()->sink_failed();
    }
}

bool carries_token(const SealedBatch& batch) {
    return std::any_of(batch.parts.begin(), batch.parts.end(),
                       [](const SharedBatch& part) { return part->token() != nullptr; });
}
}  // namespace

SinkRunner::SinkRunner(asio::io_context& io, std::shared_ptr<PluginInstance> instance,
                       SinkSettings settings)
    : SinkRunner(io, instance->name(), nullptr, std::move(settings)) {
    instance_ = std::move(instance);
    stats_ = instance_->stats();
    write_ = [plugin = instance_.get()](const dmon_batch& batch, std::string& error) {
        return plugin->write(batch, error);
    };
    if (spool_)
        stats_->spool_limit_bytes = settings_.spool_size;
    publish_backlog_stats();
}

SinkRunner::SinkRunner(asio::io_context& io, std::string name, WriteFn write, SinkSettings settings)
    : name_(std::move(name)),
      write_(std::move(write)),
      settings_(std::move(settings)),
      strand_(asio::make_strand(io)),
      flush_timer_(io),
      retry_timer_(io),
      outage_(settings_.outage_summary_every) {
    if (settings_.id_prefix.empty())
        settings_.id_prefix = name_;
    id_start_ = settings_.id_prefix + ":" + std::to_string(wall_ns()) + ":";
    if (!settings_.spool.empty()) {
        spool_ =
            Spool::open(SpoolOptions{settings_.spool, settings_.spool_size, settings_.overflow});
        stats_->spool_limit_bytes = settings_.spool_size;
    }
}

void SinkRunner::start() {
    if (spool_ && spool_->records() > 0) {
        logger().info(
            "[{}] spool {} holds {} samples in {} batches ({}) from before: sending "
            "them first",
            name_, spool_->folder().string(), spool_->samples(), spool_->records(),
            format_bytes(static_cast<double>(spool_->bytes())));
    }
    publish_backlog_stats();
    asio::post(strand_, [self = shared_from_this()] { self->kick(); });
}

bool SinkRunner::enqueue(SharedBatch batch) {
    if (!batch || batch->empty()) {
        if (batch && batch->token())
            batch->token()->sink_succeeded();
        return true;
    }
    bool start = false;
    {
        std::lock_guard lock(mutex_);
        if (!batch->token()) {
            const size_t held = open_samples_ + memory_samples_;
            if (held + batch->size() > settings_.queue_size &&
                settings_.overflow == OverflowPolicy::drop_oldest) {
                drop_oldest_locked(held + batch->size() - settings_.queue_size);
            }
            if (open_samples_ + memory_samples_ + batch->size() > settings_.queue_size) {
                stats_->count_drop(DropReason::queue_full, batch->size());
                dropped_since_log_ += batch->size();
                if (Clock::now() - last_drop_log_ > std::chrono::seconds(10)) {
                    logger().warn(
                        "[{}] queue full ({} samples held, queue_size {}, overflow {}): "
                        "dropped {} samples (dmon.sink.dropped{{reason=queue_full}})",
                        name_, open_samples_ + memory_samples_, settings_.queue_size,
                        to_string(settings_.overflow), dropped_since_log_);
                    dropped_since_log_ = 0;
                    last_drop_log_ = Clock::now();
                }
                return false;
            }
        }
        open_samples_ += batch->size();
        stats_->queue_depth = open_samples_ + memory_samples_;
        stats_->queued_bytes += batch->bytes();
        open_.push_back(std::move(batch));
        // A full batch is sealed at once (and written, unless a write is busy); a partial one
        // needs the flush timer armed.
        start = !timer_armed_ || open_samples_ >= settings_.batch_size;
    }
    if (start)
        asio::post(strand_, [self = shared_from_this()] { self->kick(); });
    return true;
}

// Makes room for `needed` samples by dropping the oldest batches that carry no token (their
// sources are periodic: the newest data matters most). The batch being written stays.
void SinkRunner::drop_oldest_locked(size_t needed) {
    size_t freed = 0;
    for (auto it = memory_.begin() + (head_in_flight_ && !memory_.empty() ? 1 : 0);
         it != memory_.end() && freed < needed;) {
        if (carries_token(*it)) {
            ++it;
            continue;
        }
        freed += it->samples;
        memory_samples_ -= it->samples;
        for (const auto& part : it->parts)
            stats_->queued_bytes -= std::min<uint64_t>(stats_->queued_bytes, part->bytes());
        it = memory_.erase(it);
    }
    for (auto it = open_.begin(); it != open_.end() && freed < needed;) {
        if ((*it)->token()) {
            ++it;
            continue;
        }
        freed += (*it)->size();
        open_samples_ -= (*it)->size();
        stats_->queued_bytes -= std::min<uint64_t>(stats_->queued_bytes, (*it)->bytes());
        it = open_.erase(it);
    }
    if (freed > 0) {
        stats_->count_drop(DropReason::queue_full, freed);
        dropped_since_log_ += freed;
    }
}

bool SinkRunner::congested() const {
    std::lock_guard lock(mutex_);
    return open_samples_ + memory_samples_ >= settings_.queue_size;
}

void SinkRunner::kick() {
    std::unique_lock lock(mutex_);
    const bool backlog = !memory_.empty() || (spool_ && spool_->records() > 0);
    if (!busy_ && (open_samples_ >= settings_.batch_size || draining_ || backlog)) {
        busy_ = true;
        lock.unlock();
        write_some();
        return;
    }
    if (busy_ && open_samples_ >= settings_.batch_size) {
        // A write is retrying: full batches go to the backlog (and the spool) meanwhile.
        lock.unlock();
        seal(false);
        lock.lock();
    }
    if (timer_armed_ || open_.empty())
        return;
    // The flush timer runs whether or not a write is busy: during an outage, rounds must still
    // reach the spool within flush_interval, not wait for the next retry.
    timer_armed_ = true;
    const uint64_t generation = ++timer_generation_;
    lock.unlock();
    flush_timer_.expires_after(settings_.flush_interval);
    flush_timer_.async_wait(
        asio::bind_executor(strand_, [self = shared_from_this(), generation](auto ec) {
            if (ec)
                return;
            bool start = false;
            {
                std::lock_guard lock(self->mutex_);
                if (generation != self->timer_generation_)
                    return;
                self->timer_armed_ = false;
                start = !self->busy_;
                self->busy_ = true;
            }
            self->seal(true);
            if (start) {
                self->write_some();
            } else {
                self->publish_backlog_stats();
                self->kick();  // re-arm for what arrives next
            }
        }));
}

// Freezes open batches into sealed ones: full ones, or with `everything` all that is open.
void SinkRunner::seal(bool everything) {
    for (;;) {
        SealedBatch sealed;
        {
            std::lock_guard lock(mutex_);
            if (open_.empty() || (!everything && open_samples_ < settings_.batch_size))
                return;
            size_t taken = 0;
            while (taken < open_.size() &&
                   (sealed.samples == 0 ||
                    sealed.samples + open_[taken]->size() <= settings_.batch_size)) {
                sealed.add(open_[taken]);
                ++taken;
            }
            open_.erase(open_.begin(), open_.begin() + static_cast<ptrdiff_t>(taken));
            open_samples_ -= sealed.samples;
            sealed.id = id_start_ + std::to_string(++sequence_);
            sealed.sealed_at_ns = wall_ns();
            // While the sink keeps up, a batch goes to it straight from memory: the spool is
            // for what waits. It takes over at the first failure (spill), and keeps the order:
            // nothing goes around it while it holds anything.
            if (!spool_ || (consecutive_failures_ == 0 && !gave_up_ && spool_->records() == 0)) {
                memory_samples_ += sealed.samples;
                memory_.push_back(std::move(sealed));
                continue;
            }
        }
        to_spool(std::move(sealed));
    }
}

// With a spool, a batch is handed over once it is on disk: tokens succeed now.
void SinkRunner::to_spool(SealedBatch sealed) {
    for (const auto& part : sealed.parts)
        stats_->queued_bytes -= std::min<uint64_t>(stats_->queued_bytes, part->bytes());
    std::string payload = encode_sealed_batch(sealed);
    const auto result = spool_->append(payload, static_cast<uint32_t>(sealed.samples));
    if (result.stored) {
        Spool::Record record{std::move(payload), static_cast<uint32_t>(sealed.samples),
                             result.segment, result.offset};
        last_appended_.emplace(Appended{sealed, std::move(record)});
    }
    if (result.dropped_samples > 0) {
        stats_->count_drop(result.reason, result.dropped_samples);
        outage_.dropped(result.dropped_samples);
        std::lock_guard lock(mutex_);
        dropped_since_log_ += result.dropped_samples;
        if (Clock::now() - last_drop_log_ > std::chrono::seconds(10)) {
            logger().warn(
                "[{}] spool {}: {}; dropped {} samples "
                "(dmon.sink.dropped{{reason={}}})",
                name_, spool_->folder().string(),
                result.error.empty() ? "spool_size reached, oldest data dropped" : result.error,
                dropped_since_log_, to_string(result.reason));
            dropped_since_log_ = 0;
            last_drop_log_ = Clock::now();
        }
    }
    settle(sealed, result.stored);
}

// Moves the batches waiting in memory (oldest first, the one that just failed included) to
// the spool, where they survive a crash while the sink is away.
void SinkRunner::spill() {
    std::deque<SealedBatch> waiting;
    {
        std::lock_guard lock(mutex_);
        waiting.swap(memory_);
        memory_samples_ = 0;
        head_in_flight_ = false;
    }
    for (auto& batch : waiting)
        to_spool(std::move(batch));
}

std::optional<SealedBatch> SinkRunner::next_batch(std::optional<Spool::Record>& record) {
    {
        std::lock_guard lock(mutex_);
        if (!memory_.empty()) {
            head_in_flight_ = true;
            return memory_.front();
        }
        if (!spool_)
            return std::nullopt;
    }
    if (last_appended_ &&
        spool_->head_is(last_appended_->record.segment, last_appended_->record.offset)) {
        record = last_appended_->record;
        spool_front_sealed_at_ = last_appended_->batch.sealed_at_ns;
        return last_appended_->batch;
    }
    for (;;) {
        record = spool_->front([this](const std::string& message) {
            stats_->spool_corrupt_records++;
            logger().error("[{}] {}", name_, message);
        });
        if (!record)
            return std::nullopt;
        if (auto batch = decode_sealed_batch(record->payload)) {
            spool_front_sealed_at_ = batch->sealed_at_ns;
            return batch;
        }
        // The checksum matched but the payload is not a batch this version can read.
        stats_->spool_corrupt_records++;
        logger().error("[{}] spool {}: a record of {} samples cannot be decoded; skipped", name_,
                       spool_->folder().string(), record->samples);
        spool_->pop(*record);
    }
}

void SinkRunner::write_some() {
    seal(draining_);
    if (draining_ && spool_ && spool_.use_count() > 1) {
        // A successor shares the spool (hot reload): hand it what is left, it sends the rest.
        spill();
        {
            std::lock_guard lock(mutex_);
            busy_ = false;
        }
        finish_drain_if_done();
        return;
    }
    if (spool_ && !spool_->claim_reader(this)) {
        // The instance this one replaced is still sending from the same spool: wait for it.
        retry_timer_.expires_after(std::chrono::milliseconds(200));
        retry_timer_.async_wait(asio::bind_executor(
            strand_, [self = shared_from_this()](auto) { self->write_some(); }));
        return;
    }
    std::optional<Spool::Record> record;
    std::optional<SealedBatch> batch = next_batch(record);
    publish_backlog_stats();
    if (!batch) {
        {
            std::lock_guard lock(mutex_);
            busy_ = false;
        }
        if (!draining_)
            kick();  // arm the flush timer for what is open, if anything
        finish_drain_if_done();
        return;
    }

    const dmon_batch& c_batch = c_batch_.view(*batch);

    std::string error;
    const auto started = Clock::now();
    const dmon_status status = write_(c_batch, error);
    stats_->last_duration_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started).count();
    if (status == DMON_OK || status == DMON_INVALID) {
        if (status == DMON_OK)
            delivered(*batch, record);
        else
            refused(*batch, record, error.empty() ? "write() refused the batch" : error);
        asio::post(strand_, [self = shared_from_this()] { self->write_some(); });
        return;
    }
    failed(error.empty() ? "write() failed without saying why" : error, batch->samples);
}

void SinkRunner::forget(const SealedBatch& batch, const std::optional<Spool::Record>& record) {
    if (record) {
        spool_->pop(*record);
    } else {
        std::lock_guard lock(mutex_);
        head_in_flight_ = false;
        memory_samples_ -= batch.samples;
        for (const auto& part : batch.parts)
            stats_->queued_bytes -= std::min<uint64_t>(stats_->queued_bytes, part->bytes());
        memory_.pop_front();
    }
}

void SinkRunner::delivered(const SealedBatch& batch, const std::optional<Spool::Record>& record) {
    forget(batch, record);
    settle(batch, true);
    consecutive_failures_ = 0;
    stats_->rounds++;
    stats_->samples += batch.samples;
    stats_->connected = true;
    stats_->last_success_ns = wall_ns();
    if (auto line = outage_.recovered(Clock::now()))
        logger().info("[{}] {}", name_, *line);
    // The backlog figures are published by the write_some() that always follows.
}

void SinkRunner::refused(const SealedBatch& batch, const std::optional<Spool::Record>& record,
                         const std::string& error) {
    forget(batch, record);
    // This sink is done with it: an input waiting on every sink (a broker message) is
    // acknowledged rather than redelivered, since sending it again would be refused again.
    settle(batch, true);
    consecutive_failures_ = 0;
    stats_->errors++;
    stats_->set_last_error(error);
    stats_->last_error_ns = wall_ns();
    stats_->connected = true;  // the receiver answered: it is reachable
    stats_->count_drop(DropReason::refused, batch.samples);
    // The first refusal is logged with what the receiver said; then one line a minute at most,
    // with the count since the last line.
    refused_since_log_ += batch.samples;
    const auto now = Clock::now();
    if (last_refusal_log_ == Clock::time_point{} ||
        now - last_refusal_log_ > std::chrono::minutes(1)) {
        logger().error(
            "[{}] the receiver refused {} samples, dropped (not retried; "
            "dmon.sink.dropped{{reason=refused}}): {}",
            name_, refused_since_log_, escape_text(error, 400));
        refused_since_log_ = 0;
        last_refusal_log_ = now;
    }
}

void SinkRunner::failed(const std::string& error, size_t samples) {
    {
        std::lock_guard lock(mutex_);
        head_in_flight_ = false;
    }
    ++consecutive_failures_;
    if (spool_)
        spill();
    stats_->errors++;
    stats_->set_last_error(error);
    stats_->last_error_ns = wall_ns();
    stats_->connected = false;
    const auto delay =
        retry_delay(consecutive_failures_, std::uniform_real_distribution<double>(0, 1)(random_),
                    settings_.retry_cap);
    if (auto line = outage_.failed(Clock::now(), error, keeping()))
        logger().error("[{}] {}", name_, *line);
    if (draining_ && Clock::now() + delay > drain_deadline_) {
        logger().error("[{}] write of {} samples failed at shutdown: {}", name_, samples, error);
        give_up_remaining("the sink still fails at the shutdown deadline");
        return;
    }
    retry_timer_.expires_after(delay);
    retry_timer_.async_wait(asio::bind_executor(strand_, [self = shared_from_this()](auto ec) {
        // Cancelled by drain(): try again now rather than after the back-off.
        if (!ec || self->draining_)
            self->write_some();
    }));
}

std::string SinkRunner::keeping() const {
    std::string text;
    {
        std::lock_guard lock(mutex_);
        text = std::to_string(open_samples_ + memory_samples_) + " samples in memory";
    }
    if (spool_) {
        text += ", " + std::to_string(spool_->samples()) + " samples (" +
                format_bytes(static_cast<double>(spool_->bytes())) + ") in the spool " +
                spool_->folder().string();
    }
    return text;
}

void SinkRunner::publish_backlog_stats() {
    int64_t oldest = 0;
    {
        std::lock_guard lock(mutex_);
        stats_->queue_depth = open_samples_ + memory_samples_;
        if (!memory_.empty())
            oldest = memory_.front().sealed_at_ns;
    }
    if (spool_) {
        stats_->spooled_samples = spool_->samples();
        stats_->spooled_bytes = spool_->bytes();
        // The spool's head is decoded by next_batch(); an empty spool has no age.
        oldest = stats_->spooled_samples == 0 ? 0 : spool_front_sealed_at_.load();
    }
    stats_->oldest_unsent_ns = oldest;
}

void SinkRunner::give_up_remaining(const std::string& reason) {
    gave_up_ = true;
    if (spool_) {  // what is left waits on disk for the next start
        seal(true);
        spill();
    }
    std::vector<SharedBatch> open;
    std::deque<SealedBatch> sealed;
    size_t samples = 0;
    {
        std::lock_guard lock(mutex_);
        open.swap(open_);
        sealed.swap(memory_);
        samples = open_samples_ + memory_samples_;
        open_samples_ = memory_samples_ = 0;
        head_in_flight_ = false;
        busy_ = false;
        stats_->queue_depth = 0;
        stats_->queued_bytes = 0;
    }
    if (samples > 0) {
        stats_->count_drop(DropReason::shutdown, samples);
        logger().error(
            "[{}] {}: {} samples held in memory were not written "
            "(dmon.sink.dropped{{reason=shutdown}})",
            name_, reason, samples);
    }
    if (spool_ && spool_->records() > 0) {
        logger().warn(
            "[{}] {}: {} samples ({}) stay in the spool {} and are sent first at the "
            "next start",
            name_, reason, spool_->samples(), format_bytes(static_cast<double>(spool_->bytes())),
            spool_->folder().string());
    }
    for (const auto& part : open) {
        if (part->token())
            part->token()->sink_failed();
    }
    for (const auto& batch : sealed)
        settle(batch, false);
    gave_up_ = true;
    finish_drain_if_done();
}

void SinkRunner::finish_drain_if_done() {
    if (!draining_ || !drained_)
        return;
    {
        std::lock_guard lock(mutex_);
        if (busy_)
            return;
        if (!gave_up_ && (!open_.empty() || !memory_.empty()))
            return;
    }
    // A successor that shares the spool (hot reload) sends the rest: stop once what was open is
    // sealed into it. Only sink runners hold a spool, so a second holder is that successor.
    if (!gave_up_ && spool_ && spool_->records() > 0 && spool_.use_count() == 1)
        return;
    if (spool_)
        spool_->release_reader(this);
    if (instance_) {
        std::string error;
        if (instance_->flush(error) != DMON_OK)
            logger().error("[{}] flush failed: {}", name_, error);
    }
    publish_backlog_stats();
    drained_->set_value();
    drained_.reset();
}

bool SinkRunner::drain(std::chrono::steady_clock::time_point deadline) {
    std::promise<void> done;
    auto finished = done.get_future();
    asio::post(strand_,
               [this, self = shared_from_this(), deadline, promise = std::move(done)]() mutable {
                   draining_ = true;
                   drain_deadline_ = deadline;
                   drained_.emplace(std::move(promise));
                   bool waiting_to_retry = false;
                   {
                       std::lock_guard lock(mutex_);
                       if (timer_armed_) {
                           timer_armed_ = false;
                           ++timer_generation_;
                           flush_timer_.cancel();
                       }
                       waiting_to_retry = busy_;
                   }
                   if (waiting_to_retry)
                       retry_timer_.cancel();  // its handler tries once more at once
                   else
                       kick();
                   finish_drain_if_done();
               });
    // The strand enforces the deadline between attempts; this wait only guards against a
    // write() that does not return: the caller goes on a second after the deadline.
    if (finished.wait_until(deadline + std::chrono::seconds(1)) != std::future_status::ready) {
        logger().error(
            "[{}] a write() was still running a second after the shutdown deadline; "
            "not waiting for it{}",
            name_, spool_ ? " (its batch stays in the spool)" : "");
        return false;
    }
    return true;
}

}  // namespace dmon::core
