// bench_series: a collector that emits `series` gauges every round (bench.series{host, group,
// item}), for the Prometheus figures (bench/prometheus.sh): a table as large as a controller's.
#include <dmon/plugin.hpp>

#include <string>
#include <vector>

namespace {

constexpr dmon_option_decl kOptions[] = {
    dmon::sdk::option("series", DMON_OPT_INT, "10000", "how many series each round"),
};

class Series : public dmon::sdk::Collector {
  public:
    explicit Series(const dmon::sdk::Context& context) {
        const int64_t count = context.options.integer_value("series");
        if (count < 1 || count > 10'000'000)
            throw dmon::sdk::InvalidInput("series must be 1..10000000");
        for (int64_t i = 0; i < count; ++i) {
            groups_.push_back("g" + std::to_string(i / 100));
            items_.push_back("i" + std::to_string(i % 100));
        }
    }
    void collect(dmon::sdk::Emitter& out) override {
        ++round_;
        for (size_t i = 0; i < items_.size(); ++i)
            out.gauge("bench.series", {{"group", groups_[i]}, {"item", items_[i]}},
                      static_cast<double>(round_ * 1000 + i % 1000));
    }

  private:
    std::vector<std::string> groups_, items_;
    uint64_t round_ = 0;
};

}  // namespace

DMON_COLLECTOR_PLUGIN(Series, "bench_series", "1.0.0", "emits many gauges each round", kOptions, 0)
