// Scheduler and router: intervals, batching, back-pressure counting, completion tokens.
#include "dmon/core/collector_runner.hpp"
#include "dmon/core/router.hpp"
#include "dmon/core/sink_runner.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <thread>

namespace dmon::core {
namespace {
using namespace std::chrono_literals;

// An io_context with two threads, like the host's default pool.
class Pipeline : public ::testing::Test {
  protected:
    void SetUp() override {
        for (int i = 0; i < 2; ++i)
            threads_.emplace_back([this] { io_.run(); });
    }
    void TearDown() override {
        work_.reset();
        io_.stop();
        for (auto& t : threads_)
            t.join();
    }
    std::shared_ptr<SampleBatch> batch_of(size_t samples, const std::string& source = "src",
                                          double first = 0) {
        auto batch = std::make_shared<SampleBatch>(source);
        for (size_t i = 0; i < samples; ++i)
            batch->add("test.value", {{"i", std::to_string(i)}}, first + double(i), DMON_GAUGE, 1);
        return batch;
    }
    asio::io_context io_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
        io_.get_executor()};
    std::vector<std::thread> threads_;
};

// Records the size of every write; can be told to fail or to block.
struct RecordingWriter {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<size_t> writes;
    std::vector<std::string> attempted_ids;  // every attempt, failed ones too
    std::vector<double> first_values;        // of each successful write
    int fail_next = 0;
    int refuse_next = 0;  // answered DMON_INVALID: "can never be written"
    bool blocked = false;
    size_t total() {
        std::lock_guard lock(mutex);
        size_t n = 0;
        for (size_t w : writes)
            n += w;
        return n;
    }
    bool wait_for_total(size_t expected, std::chrono::milliseconds timeout = 5000ms) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, timeout, [&] {
            size_t n = 0;
            for (size_t w : writes)
                n += w;
            return n >= expected;
        });
    }
    SinkRunner::WriteFn fn() {
        return [this](const dmon_batch& batch, std::string& error) {
            std::unique_lock lock(mutex);
            changed.wait(lock, [&] { return !blocked; });
            attempted_ids.emplace_back(batch.id.data, batch.id.size);
            if (fail_next > 0) {
                --fail_next;
                error = "injected failure";
                return DMON_ERROR;
            }
            if (refuse_next > 0) {
                --refuse_next;
                error = "HTTP 400: out of order sample";
                changed.notify_all();
                return DMON_INVALID;
            }
            writes.push_back(batch.sample_count);
            first_values.push_back(batch.sample_count > 0 ? batch.samples[0].value : -1);
            changed.notify_all();
            return DMON_OK;
        };
    }
    void unblock() {
        std::lock_guard lock(mutex);
        blocked = false;
        changed.notify_all();
    }
};

TEST_F(Pipeline, FullBatchesAreWrittenAtOnceAndTheRestOnDrain) {
    RecordingWriter writer;
    auto sink = std::make_shared<SinkRunner>(io_, "sink", writer.fn(), SinkSettings{10, 1h, 1000});
    for (int i = 0; i < 5; ++i)
        sink->enqueue(batch_of(5));
    ASSERT_TRUE(writer.wait_for_total(20));
    sink->drain(std::chrono::steady_clock::now() + 5s);
    EXPECT_EQ(writer.writes, (std::vector<size_t>{10, 10, 5}));
    EXPECT_EQ(sink->stats()->samples, 25u);
    EXPECT_EQ(sink->stats()->queue_depth, 0u);
}

TEST_F(Pipeline, APartialBatchIsWrittenAfterTheFlushInterval) {
    RecordingWriter writer;
    auto sink =
        std::make_shared<SinkRunner>(io_, "sink", writer.fn(), SinkSettings{1000, 50ms, 1000});
    sink->enqueue(batch_of(3));
    ASSERT_TRUE(writer.wait_for_total(3));
    EXPECT_EQ(writer.writes, (std::vector<size_t>{3}));
}

TEST_F(Pipeline, AFullQueueDropsPeriodicBatchesAndCountsThem) {
    RecordingWriter writer;
    writer.blocked = true;
    auto sink = std::make_shared<SinkRunner>(io_, "sink", writer.fn(),
                                             SinkSettings{.batch_size = 5,
                                                          .flush_interval = 1h,
                                                          .queue_size = 10,
                                                          .overflow = OverflowPolicy::drop_newest});
    EXPECT_TRUE(sink->enqueue(batch_of(5)));  // taken by a write that blocks
    EXPECT_TRUE(sink->enqueue(batch_of(5)));
    EXPECT_FALSE(sink->enqueue(batch_of(5)));  // 15 > 10: dropped
    EXPECT_FALSE(sink->enqueue(batch_of(3)));
    EXPECT_EQ(sink->stats()->dropped, 8u);
    EXPECT_TRUE(sink->congested());
    // A batch with a completion token is never dropped: its source is told to wait instead.
    auto fed = batch_of(4);
    bool acknowledged = false;
    fed->set_token(std::make_shared<CompletionToken>([&](bool ok) { acknowledged = ok; }));
    fed->token()->expect(1);
    EXPECT_TRUE(sink->enqueue(fed));
    writer.unblock();
    sink->drain(std::chrono::steady_clock::now() + 5s);
    EXPECT_EQ(writer.total(), 14u);
    EXPECT_TRUE(acknowledged);
    EXPECT_EQ(sink->stats()->dropped, 8u);
}

TEST_F(Pipeline, AFailedWriteIsRetriedAndNothingIsLostOrDoubled) {
    RecordingWriter writer;
    writer.fail_next = 2;
    auto sink =
        std::make_shared<SinkRunner>(io_, "sink", writer.fn(), SinkSettings{100, 10ms, 1000});
    sink->enqueue(batch_of(7));
    ASSERT_TRUE(writer.wait_for_total(7));
    sink->drain(std::chrono::steady_clock::now() + 5s);
    EXPECT_EQ(writer.writes, (std::vector<size_t>{7}));
    EXPECT_EQ(sink->stats()->errors, 2u);
    EXPECT_EQ(sink->stats()->last_error(), "injected failure");
}

TEST_F(Pipeline, ARetriedBatchKeepsItsIdAndItsSamples) {
    RecordingWriter writer;
    writer.fail_next = 3;
    auto sink = std::make_shared<SinkRunner>(
        io_, "sink", writer.fn(),
        SinkSettings{.batch_size = 100, .flush_interval = 10ms, .id_prefix = "web-1:amqp"});
    sink->enqueue(batch_of(4, "a", 10));
    ASSERT_TRUE(writer.wait_for_total(4));
    sink->enqueue(batch_of(2, "b", 20));  // arrives after the retries: a batch of its own
    ASSERT_TRUE(writer.wait_for_total(6));
    sink->drain(std::chrono::steady_clock::now() + 5s);
    ASSERT_EQ(writer.attempted_ids.size(), 5u);
    for (int i = 1; i < 4; ++i)
        EXPECT_EQ(writer.attempted_ids[i], writer.attempted_ids[0]);
    EXPECT_NE(writer.attempted_ids[4], writer.attempted_ids[0]);
    EXPECT_EQ(writer.attempted_ids[0].rfind("web-1:amqp:", 0), 0u) << writer.attempted_ids[0];
    EXPECT_EQ(writer.writes, (std::vector<size_t>{4, 2}));
    EXPECT_EQ(writer.first_values, (std::vector<double>{10, 20}));
    EXPECT_TRUE(sink->stats()->connected);
    EXPECT_EQ(sink->stats()->errors, 3u);
}

// A receiver that refuses a batch's content (HTTP 400) will refuse it again: the batch is
// dropped and counted as refused, its input acknowledged, and the batches after it go through.
TEST_F(Pipeline, ARefusedBatchIsDroppedCountedAndNotRetried) {
    RecordingWriter writer;
    writer.refuse_next = 1;
    auto sink = std::make_shared<SinkRunner>(io_, "sink", writer.fn(),
                                             SinkSettings{.batch_size = 3, .flush_interval = 10ms});
    bool acknowledged = false;
    auto fed = batch_of(3, "a", 10);
    fed->set_token(std::make_shared<CompletionToken>([&](bool ok) { acknowledged = ok; }));
    fed->token()->expect(1);
    sink->enqueue(fed);
    fed.reset();
    sink->enqueue(batch_of(3, "b", 20));
    ASSERT_TRUE(writer.wait_for_total(3));
    sink->drain(std::chrono::steady_clock::now() + 5s);
    EXPECT_EQ(writer.attempted_ids.size(), 2u);  // one attempt each: the refused one not again
    EXPECT_EQ(writer.first_values, (std::vector<double>{20}));
    EXPECT_EQ(sink->stats()->dropped, 3u);
    EXPECT_EQ(sink->stats()->dropped_by_reason[static_cast<size_t>(DropReason::refused)], 3u);
    EXPECT_EQ(sink->stats()->samples, 3u);
    EXPECT_EQ(sink->stats()->last_error(), "HTTP 400: out of order sample");
    EXPECT_TRUE(acknowledged);  // a broker message is acknowledged, not redelivered forever
    EXPECT_EQ(sink->stats()->queue_depth, 0u);
}

TEST_F(Pipeline, DropOldestKeepsTheNewestBatches) {
    RecordingWriter writer;
    writer.blocked = true;
    auto sink = std::make_shared<SinkRunner>(io_, "sink", writer.fn(),
                                             SinkSettings{.batch_size = 5,
                                                          .flush_interval = 1h,
                                                          .queue_size = 10,
                                                          .overflow = OverflowPolicy::drop_oldest});
    EXPECT_TRUE(sink->enqueue(batch_of(5, "a", 100)));  // in flight: the write blocks
    std::this_thread::sleep_for(50ms);
    EXPECT_TRUE(sink->enqueue(batch_of(5, "b", 200)));
    EXPECT_TRUE(sink->enqueue(batch_of(5, "c", 300)));  // b, the oldest waiting, makes room
    EXPECT_TRUE(sink->enqueue(batch_of(5, "d", 400)));  // and then c
    EXPECT_EQ(sink->stats()->dropped, 10u);
    EXPECT_EQ(sink->stats()->dropped_by_reason[static_cast<size_t>(DropReason::queue_full)], 10u);
    writer.unblock();
    sink->drain(std::chrono::steady_clock::now() + 5s);
    EXPECT_EQ(writer.first_values, (std::vector<double>{100, 400}));
    EXPECT_EQ(writer.total(), 10u);
}

TEST_F(Pipeline, AnUnwrittenMemoryQueueIsCountedAsDroppedAtShutdown) {
    RecordingWriter writer;
    writer.fail_next = 1000;
    auto sink = std::make_shared<SinkRunner>(io_, "sink", writer.fn(),
                                             SinkSettings{.batch_size = 3, .flush_interval = 10ms});
    sink->enqueue(batch_of(3));
    sink->enqueue(batch_of(2));
    std::this_thread::sleep_for(100ms);
    EXPECT_FALSE(sink->stats()->connected);
    EXPECT_TRUE(sink->drain(std::chrono::steady_clock::now() + 300ms));
    EXPECT_EQ(sink->stats()->dropped_by_reason[static_cast<size_t>(DropReason::shutdown)], 5u);
    EXPECT_EQ(sink->stats()->samples, 0u);
}

TEST(RetryDelay, DoublesUpToTheCapWithJitterInTheUpperHalf) {
    using std::chrono::milliseconds;
    EXPECT_EQ(retry_delay(1, 0.0), milliseconds(50));
    EXPECT_EQ(retry_delay(1, 1.0), milliseconds(100));
    EXPECT_EQ(retry_delay(2, 0.0), milliseconds(100));
    EXPECT_EQ(retry_delay(4, 0.5), milliseconds(600));  // 800 ms: 400 + 200
    for (int failures = 1; failures < 40; ++failures) {
        for (double r : {0.0, 0.3, 0.999}) {
            const auto delay = retry_delay(failures, r, milliseconds(30000));
            EXPECT_GE(delay, milliseconds(50));
            EXPECT_LE(delay, milliseconds(30000));
        }
    }
    EXPECT_EQ(retry_delay(30, 0.0, milliseconds(30000)), milliseconds(15000));
    EXPECT_EQ(retry_delay(30, 1.0, milliseconds(30000)), milliseconds(30000));
}

TEST(OutageLog, OneOutageIsAFirstLineSummariesAndOneRecoveryLine) {
    OutageLog log(std::chrono::seconds(30));
    const auto t0 = OutageLog::Clock::time_point{} + std::chrono::hours(1);
    EXPECT_FALSE(log.recovered(t0).has_value());  // no outage, nothing to say
    auto first = log.failed(t0, "connection refused", "5 samples in memory");
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(*first, "write failed: connection refused; keeping 5 samples in memory and retrying");
    int lines = 0;
    for (int s = 1; s < 30; ++s)  // one attempt a second: quiet until the summary is due
        lines += log.failed(t0 + std::chrono::seconds(s), "connection refused", "x").has_value();
    EXPECT_EQ(lines, 0);
    log.dropped(7);
    auto summary = log.failed(t0 + std::chrono::seconds(30), "connection refused", "40 samples");
    ASSERT_TRUE(summary.has_value());
    EXPECT_EQ(*summary,
              "still failing after 30.0 s (31 attempts): connection refused; keeping 40 samples; "
              "dropped so far 7 samples");
    auto done = log.recovered(t0 + std::chrono::seconds(45));
    ASSERT_TRUE(done.has_value());
    EXPECT_EQ(*done,
              "writing again after 45.0 s and 31 failed attempt(s); 7 samples dropped "
              "during the outage");
    EXPECT_FALSE(log.recovered(t0 + std::chrono::seconds(46)).has_value());
    EXPECT_FALSE(log.in_outage());
}

TEST_F(Pipeline, CompletionWaitsForEverySink) {
    RecordingWriter fast, slow;
    slow.blocked = true;
    auto router = std::make_shared<Router>();
    auto a = std::make_shared<SinkRunner>(io_, "a", fast.fn(), SinkSettings{1, 1h, 100});
    auto b = std::make_shared<SinkRunner>(io_, "b", slow.fn(), SinkSettings{1, 1h, 100});
    router->set_sinks({a, b});
    std::atomic<int> calls{0};
    std::atomic<bool> result{false};
    auto batch = batch_of(2);
    batch->set_token(std::make_shared<CompletionToken>([&](bool ok) {
        ++calls;
        result = ok;
    }));
    router->route(batch);
    batch.reset();
    ASSERT_TRUE(fast.wait_for_total(2));
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(calls, 0);  // one sink has not written yet
    slow.unblock();
    ASSERT_TRUE(slow.wait_for_total(2));
    a->drain(std::chrono::steady_clock::now() + 5s);
    b->drain(std::chrono::steady_clock::now() + 5s);
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(result);
}

TEST_F(Pipeline, CompletionFailsWhenASinkGivesUpAtShutdown) {
    RecordingWriter broken;
    broken.fail_next = 1'000'000;
    auto router = std::make_shared<Router>();
    auto sink = std::make_shared<SinkRunner>(io_, "broken", broken.fn(), SinkSettings{1, 1h, 100});
    router->set_sinks({sink});
    std::atomic<int> calls{0};
    std::atomic<bool> result{true};
    auto batch = batch_of(1);
    batch->set_token(std::make_shared<CompletionToken>([&](bool ok) {
        ++calls;
        result = ok;
    }));
    router->route(batch);
    batch.reset();
    sink->drain(std::chrono::steady_clock::now() + 300ms);
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(result);
    EXPECT_EQ(sink->stats()->dropped, 1u);
}

// A plugin's completion whose batch is still queued when its collector goes (a sink that could
// not write at shutdown) is called once, with an error, by the runner: never lost (its closure
// would leak, and a broker message would wait for the connection to drop), never twice.
TEST_F(Pipeline, ACompletionStillOwedWhenTheCollectorGoesIsCalledOnceWithAnError) {
    RecordingWriter writer;
    writer.blocked = true;  // nothing gets written
    auto router = std::make_shared<Router>();
    auto sink = std::make_shared<SinkRunner>(io_, "sink", writer.fn(), SinkSettings{1, 1h, 1000});
    router->set_sinks({sink});
    struct Owed {
        std::atomic<int> calls{0};
        std::atomic<int> errors{0};
    } owed;
    const dmon_completion_fn done = [](void* user, dmon_status status) {
        auto* counts = static_cast<Owed*>(user);
        ++counts->calls;
        if (status != DMON_OK)
            ++counts->errors;
    };
    std::atomic<bool> emitted{false};
    auto runner = std::make_shared<CollectorRunner>(
        io_, "fed", 20ms,
        [&](dmon_emitter& emitter, std::string&) {
            if (emitted.exchange(true))
                return DMON_OK;
            auto batch = std::make_shared<SampleBatch>("fed");
            batch->add("x", {}, 1, DMON_GAUGE, emitter.collected_at_ns);
            batch->set_token(
                std::make_shared<CompletionToken>(emitter.bind_completion(done, &owed)));
            emitter.batches.push_back(batch);
            return DMON_OK;
        },
        router, "node");
    runner->start();
    for (int i = 0; i < 200 && !emitted; ++i)
        std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(emitted);
    runner->stop();
    EXPECT_EQ(owed.calls, 0);  // the batch waits in the blocked sink
    runner.reset();            // the collector goes first, as at shutdown
    // (A cancelled timer's handler may hold it a moment longer, on an io thread.)
    for (int i = 0; i < 200 && owed.calls == 0; ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(owed.calls, 1);
    EXPECT_EQ(owed.errors, 1);
    // The sink gives up on the batch later: its token finishes, nobody is called again.
    router->set_sinks({});
    writer.unblock();
    sink->drain(std::chrono::steady_clock::now() + 2s);
    sink.reset();
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(owed.calls, 1);
}

TEST(Scheduler, TicksAreAlignedToWallClockBoundaries) {
    using std::chrono::system_clock;
    const auto at = [](int64_t ms) {
        return system_clock::time_point(std::chrono::milliseconds(ms));
    };
    EXPECT_EQ(CollectorRunner::next_tick(at(1'732'468'801'234), 10s), at(1'732'468'810'000));
    EXPECT_EQ(CollectorRunner::next_tick(at(1'732'468'810'000), 10s), at(1'732'468'820'000));
    EXPECT_EQ(CollectorRunner::next_tick(at(1'732'468'801'234), 250ms), at(1'732'468'801'250));
    EXPECT_EQ(CollectorRunner::next_tick(at(59'999), 1min), at(60'000));
}

TEST_F(Pipeline, CollectorRunsEveryIntervalAndFeedsTheRouter) {
    RecordingWriter writer;
    auto router = std::make_shared<Router>();
    auto sink = std::make_shared<SinkRunner>(io_, "sink", writer.fn(), SinkSettings{1, 1h, 1000});
    router->set_sinks({sink});
    std::atomic<int> rounds{0};
    std::vector<int64_t> timestamps;
    auto runner = std::make_shared<CollectorRunner>(
        io_, "counter", 50ms,
        [&](dmon_emitter& emitter, std::string&) {
            ++rounds;
            timestamps.push_back(emitter.collected_at_ns);
            auto batch = std::make_shared<SampleBatch>("counter");
            batch->add("x", {}, 1, DMON_GAUGE, emitter.collected_at_ns);
            emitter.batches.push_back(batch);
            return DMON_OK;
        },
        router, "node");
    runner->start();
    std::this_thread::sleep_for(600ms);
    runner->stop();
    sink->drain(std::chrono::steady_clock::now() + 5s);
    EXPECT_GE(rounds, 6);  // 12 ticks in 600 ms; generous for a loaded machine
    EXPECT_LE(rounds, 13);
    EXPECT_EQ(writer.total(), static_cast<size_t>(rounds.load()));
    EXPECT_EQ(runner->stats()->rounds, static_cast<uint64_t>(rounds.load()));
    // Every round fired on (or just after) a 50 ms boundary.
    for (int64_t ts : timestamps)
        EXPECT_LT(ts % 50'000'000, 40'000'000) << ts;
}

TEST_F(Pipeline, AFailingCollectorBacksOff) {
    auto router = std::make_shared<Router>();
    std::atomic<int> calls{0};
    auto runner = std::make_shared<CollectorRunner>(
        io_, "failing", 50ms,
        [&](dmon_emitter&, std::string& error) {
            ++calls;
            error = "no sensor";
            return DMON_ERROR;
        },
        router, "node");
    runner->start();
    std::this_thread::sleep_for(800ms);
    runner->stop();
    // Without back-off: 16 calls. With 50, 100, 200, 400 ms waits: at most 5.
    EXPECT_GE(calls, 2);
    EXPECT_LE(calls, 5);
    EXPECT_EQ(runner->stats()->errors, static_cast<uint64_t>(calls.load()));
    EXPECT_EQ(runner->stats()->last_error(), "no sensor");
}

TEST_F(Pipeline, ASlowCollectorSkipsRoundsAndDelaysNobodyElse) {
    auto router = std::make_shared<Router>();
    std::atomic<int> fast_rounds{0}, slow_rounds{0};
    auto slow = std::make_shared<CollectorRunner>(
        io_, "slow", 50ms,
        [&](dmon_emitter&, std::string&) {
            ++slow_rounds;
            std::this_thread::sleep_for(180ms);
            return DMON_OK;
        },
        router, "node");
    auto fast = std::make_shared<CollectorRunner>(
        io_, "fast", 50ms,
        [&](dmon_emitter&, std::string&) {
            ++fast_rounds;
            return DMON_OK;
        },
        router, "node");
    slow->start();
    fast->start();
    std::this_thread::sleep_for(800ms);
    slow->stop();
    fast->stop();
    EXPECT_GE(fast_rounds, 10);  // 16 ticks in 800 ms
    EXPECT_LE(slow_rounds, 5);
    EXPECT_GE(slow->stats()->skipped_rounds, 6u);
}

}  // namespace
}  // namespace dmon::core
