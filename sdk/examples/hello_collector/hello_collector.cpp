// A complete dmon collector in C++: counts its rounds, with one declared option.
#include <dmon/plugin.hpp>

#include <string>

namespace {

constexpr dmon_option_decl kOptions[] = {
    dmon::sdk::option("greeting", DMON_OPT_STRING, "hello", "the label value to count under"),
};

class HelloCollector : public dmon::sdk::Collector {
  public:
    explicit HelloCollector(const dmon::sdk::Context& context)
        : greeting_(context.options.string_value("greeting")) {
        context.host.info("ready to greet with '" + greeting_ + "'");
    }
    void collect(dmon::sdk::Emitter& out) override {
        out.counter("hello.rounds", {{"greeting", greeting_}}, static_cast<double>(++rounds_));
    }

  private:
    std::string greeting_;
    uint64_t rounds_ = 0;
};

}  // namespace

DMON_COLLECTOR_PLUGIN(HelloCollector, "hello_collector", "1.0.0", "counts its rounds", kOptions, 0)
