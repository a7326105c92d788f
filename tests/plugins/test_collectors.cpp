// Collectors for tests, one plugin file per behaviour (selected at compile time).
#include <dmon/plugin.hpp>

#include <chrono>
#include <thread>

namespace {

#if defined(TEST_COUNTER)
// Emits `metric` = 1, 2, 3, ... (one per round), so a test can tell a missing or doubled round.
constexpr dmon_option_decl kOptions[] = {
    dmon::sdk::option("metric", DMON_OPT_STRING, "test.rounds", "sample name"),
};
class Counter : public dmon::sdk::Collector {
  public:
    explicit Counter(const dmon::sdk::Context& context)
        : metric_(*context.options.string("metric")) {}
    void collect(dmon::sdk::Emitter& out) override {
        out.counter(metric_, {}, static_cast<double>(++round_));
    }

  private:
    std::string metric_;
    uint64_t round_ = 0;
};
#ifndef TEST_COUNTER_VERSION
#define TEST_COUNTER_VERSION "1.0.0"
#endif
DMON_COLLECTOR_PLUGIN(Counter, "test_counter", TEST_COUNTER_VERSION, "counts its rounds", kOptions,
                      0)

#elif defined(TEST_THROWING)
class Throwing : public dmon::sdk::Collector {
  public:
    explicit Throwing(const dmon::sdk::Context&) {}
    void collect(dmon::sdk::Emitter&) override { throw std::runtime_error("sensor on fire"); }
};
DMON_COLLECTOR_PLUGIN(Throwing, "test_throwing", "1.0.0", "always throws", dmon::sdk::kNoOptions, 0)

#elif defined(TEST_SLOW)
constexpr dmon_option_decl kOptions[] = {
    dmon::sdk::option("delay", DMON_OPT_DURATION, "300ms", "how long collect() takes"),
};
class Slow : public dmon::sdk::Collector {
  public:
    explicit Slow(const dmon::sdk::Context& context)
        : delay_(*context.options.duration_ns("delay")) {}
    void collect(dmon::sdk::Emitter& out) override {
        std::this_thread::sleep_for(std::chrono::nanoseconds(delay_));
        out.gauge("test.slow", {}, 1.0);
    }

  private:
    int64_t delay_;
};
DMON_COLLECTOR_PLUGIN(Slow, "test_slow", "1.0.0", "takes its time", kOptions, 0)

#elif defined(TEST_CREATE_FAILS)
constexpr dmon_option_decl kOptions[] = {
    dmon::sdk::option("threshold", DMON_OPT_INT, "0", "must be positive"),
};
class CreateFails : public dmon::sdk::Collector {
  public:
    explicit CreateFails(const dmon::sdk::Context& context) {
        if (*context.options.integer("threshold") <= 0)
            throw dmon::sdk::InvalidInput("threshold must be positive");
    }
    void collect(dmon::sdk::Emitter&) override {}
};
DMON_COLLECTOR_PLUGIN(CreateFails, "test_create_fails", "1.0.0", "refuses bad options", kOptions, 0)

#elif defined(TEST_FIXED_TIME)
// Emits `test.fixed` = 1, 2, 3, ... every round, all stamped with the moment the instance was
// made: from the second round on, a receiver that keeps one value per timestamp (Prometheus)
// refuses it ("duplicate sample for timestamp").
class FixedTime : public dmon::sdk::Collector {
  public:
    explicit FixedTime(const dmon::sdk::Context& context) : at_(context.host.now_ns()) {}
    void collect(dmon::sdk::Emitter& out) override {
        const dmon::sdk::Label* none = nullptr;
        out.add("test.fixed", none, none, static_cast<double>(++round_), DMON_GAUGE, at_);
    }

  private:
    int64_t at_;
    uint64_t round_ = 0;
};
DMON_COLLECTOR_PLUGIN(FixedTime, "test_fixed_time", "1.0.0",
                      "counts its rounds, always with the same timestamp", dmon::sdk::kNoOptions, 0)
#endif

}  // namespace
