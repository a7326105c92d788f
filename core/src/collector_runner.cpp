#include "dmon/core/collector_runner.hpp"

#include "dmon/core/logging.hpp"

#include <future>

namespace dmon::core {
namespace {
using SystemClock = std::chrono::system_clock;
constexpr std::chrono::nanoseconds kMaxBackoff = std::chrono::minutes(5);
}  // namespace

CollectorRunner::CollectorRunner(asio::io_context& io, std::string name,
                                 std::chrono::nanoseconds interval, CollectFn collect,
                                 std::shared_ptr<Router> router, std::string node)
    : name_(std::move(name)),
      interval_(interval),
      collect_(std::move(collect)),
      router_(std::move(router)),
      node_(std::move(node)),
      strand_(asio::make_strand(io)),
      timer_(io) {}

CollectorRunner::CollectorRunner(asio::io_context& io, std::shared_ptr<PluginInstance> instance,
                                 std::chrono::nanoseconds interval, std::shared_ptr<Router> router,
                                 std::string node)
    : CollectorRunner(io, instance->name(), interval, nullptr, std::move(router), std::move(node)) {
    instance_ = std::move(instance);
    stats_ = instance_->stats();
    collect_ = [plugin = instance_.get()](dmon_emitter& emitter, std::string& error) {
        return plugin->collect(emitter, error);
    };
}

CollectorRunner::~CollectorRunner() {
    // Every handler of the strand holds the runner: none runs now, none will. The plugin
    // instance (a member) is still alive, so its completions can be called here, serially.
    std::map<void*, dmon_completion_fn> owed;
    {
        std::lock_guard lock(completions_->mutex);
        owed.swap(completions_->owed);
    }
    for (const auto& [user, done] : owed)
        done(user, DMON_ERROR);
}

SystemClock::time_point CollectorRunner::next_tick(SystemClock::time_point now,
                                                   std::chrono::nanoseconds interval) {
    const auto since_epoch =
        std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch());
    const auto ticks = since_epoch / interval + 1;
    return SystemClock::time_point(
        std::chrono::duration_cast<SystemClock::duration>(ticks * interval));
}

void CollectorRunner::start() {
    asio::post(strand_, [self = shared_from_this()] {
        self->schedule(next_tick(SystemClock::now(), self->interval_));
    });
}

void CollectorRunner::stop() {
    std::promise<void> done;
    auto finished = done.get_future();
    asio::post(strand_, [self = shared_from_this(), &done] {
        self->stopped_ = true;
        self->timer_.cancel();
        done.set_value();
    });
    finished.wait();  // once this runs on the strand, no collect() is running or will start
}

void CollectorRunner::schedule(SystemClock::time_point when) {
    if (stopped_)
        return;
    scheduled_for_ = when;
    timer_.expires_at(when);
    timer_.async_wait(asio::bind_executor(strand_, [self = shared_from_this()](auto ec) {
        if (!ec && !self->stopped_)
            self->run_round();
    }));
}

void CollectorRunner::report_refusals(const dmon_emitter::Refusals& refused) {
    if (refused.total() == 0)
        return;
    const auto lines = describe_refusals(refused);
    for (const auto& [reason, line] : lines) {
        if (stats_)
            stats_->add_to_counter("refused{reason=" + reason + "}",
                                   reason == "not_finite"    ? refused.not_finite
                                   : reason == "sample_size" ? refused.sample_size
                                                             : refused.malformed);
    }
    // A plugin that emits a NaN every second says so once a minute, not every second.
    const auto now = std::chrono::steady_clock::now();
    if (last_refusal_log_ && now - *last_refusal_log_ < std::chrono::minutes(1))
        return;
    last_refusal_log_ = now;
    for (const auto& [reason, line] : lines) {
        logger().warn(
            "[{}] {} (a plugin bug; counted in dmon.plugin.refused{{reason={}}}, said "
            "at most once a minute)",
            name_, line, reason);
    }
}

dmon_status CollectorRunner::collect_and_route(std::string& error, size_t& samples) {
    dmon_emitter emitter;
    emitter.node = node_;
    emitter.source = name_;
    emitter.collected_at_ns = now_ns();
    std::weak_ptr<CollectorRunner> weak = weak_from_this();
    emitter.bind_completion = [weak, completions = completions_](dmon_completion_fn done,
                                                                 void* user) {
        {
            std::lock_guard lock(completions->mutex);
            completions->owed.emplace(user, done);
        }
        return std::function<void(bool)>([weak, completions, done, user](bool ok) {
            // The plugin hears about completion on its own strand, never concurrently with
            // collect(); if the runner is gone, its destructor has already told it.
            if (auto self = weak.lock()) {
                asio::post(self->strand_, [self, completions, done, user, ok] {
                    if (completions->take(user))
                        done(user, ok ? DMON_OK : DMON_ERROR);
                });
            }
        });
    };

    const auto started = std::chrono::steady_clock::now();
    const dmon_status status = collect_(emitter, error);
    const auto took = std::chrono::steady_clock::now() - started;
    stats_->last_duration_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(took).count();

    report_refusals(emitter.refused);
    samples = 0;
    for (auto& batch : emitter.batches) {
        if (batch->token())
            uses_completion_ = true;
        samples += batch->size();
        router_->route(std::move(batch));  // partial results of a failed round are kept too
    }
    stats_->samples += samples;
    return status;
}

void CollectorRunner::collect_now(std::function<void(size_t, std::string)> done) {
    asio::post(strand_, [self = shared_from_this(), done = std::move(done)] {
        if (self->stopped_) {
            done(0, "the collector is stopping");
            return;
        }
        std::string error;
        size_t samples = 0;
        const dmon_status status = self->collect_and_route(error, samples);
        self->stats_->extra_rounds++;
        if (status != DMON_OK && error.empty())
            error = "collect failed";
        done(samples, status == DMON_OK ? std::string() : error);
    });
}

void CollectorRunner::run_round() {
    if (uses_completion_ && router_->congested()) {
        // Back-pressure: a source fed from outside leaves its input where it is until the
        // sinks catch up, instead of reading what would have to be dropped.
        schedule(next_tick(SystemClock::now(), interval_));
        return;
    }
    std::string error;
    size_t samples = 0;
    const dmon_status status = collect_and_route(error, samples);

    const auto now = SystemClock::now();
    if (status == DMON_OK) {
        if (consecutive_failures_ > 0) {
            logger().info("[{}] collecting again after {} failed round(s)", name_,
                          consecutive_failures_);
        }
        consecutive_failures_ = 0;
        stats_->backing_off = false;
        stats_->rounds++;
        auto next = next_tick(now, interval_);
        // Ticks that passed while collect() ran are skipped, not run back to back.
        const auto missed = (next - scheduled_for_) / interval_ - 1;
        if (missed > 0) {
            stats_->skipped_rounds += static_cast<uint64_t>(missed);
            logger().warn(
                "[{}] collect took {} ms, longer than its interval of {} ms; skipped {} round(s)",
                name_, stats_->last_duration_ns.load() / 1000000,
                std::chrono::duration_cast<std::chrono::milliseconds>(interval_).count(), missed);
        }
        schedule(next);
        return;
    }
    if (status == DMON_INVALID) {
        // Final for this round's input: retrying it cannot help, and backing off would only
        // delay the next reading, which is another input. Counted and said; no back-off.
        stats_->errors++;
        stats_->set_last_error(error);
        stats_->add_to_counter("invalid_rounds", 1);
        const auto steady = std::chrono::steady_clock::now();
        if (!last_invalid_log_ || steady - *last_invalid_log_ >= std::chrono::minutes(1)) {
            last_invalid_log_ = steady;
            logger().error(
                "[{}] collect refused its input (DMON_INVALID): {}; round dropped, "
                "the next one on schedule (counted in dmon.plugin.invalid_rounds, "
                "said at most once a minute)",
                name_, error);
        }
        schedule(next_tick(now, interval_));
        return;
    }
    ++consecutive_failures_;
    stats_->backing_off = true;
    stats_->errors++;
    stats_->set_last_error(error);
    auto backoff = interval_ * (int64_t{1} << std::min(consecutive_failures_ - 1, 20));
    if (backoff > kMaxBackoff)
        backoff = std::max<std::chrono::nanoseconds>(kMaxBackoff, interval_);
    stats_->skipped_rounds += static_cast<uint64_t>(backoff / interval_ - 1);
    logger().error("[{}] collect failed ({} in a row): {}; next try in {} ms", name_,
                   consecutive_failures_, error,
                   std::chrono::duration_cast<std::chrono::milliseconds>(backoff).count());
    schedule(next_tick(now + backoff - interval_, interval_));
}

}  // namespace dmon::core
