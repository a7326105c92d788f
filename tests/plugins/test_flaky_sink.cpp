// A sink for tests: appends line protocol to `path`, failing its first `fail_first` writes.
#include <dmon/line_protocol.hpp>
#include <dmon/plugin.hpp>

#include <fstream>

namespace {
constexpr dmon_option_decl kOptions[] = {
    dmon::sdk::option("path", DMON_OPT_STRING, nullptr, "file to append to", true),
    dmon::sdk::option("fail_first", DMON_OPT_INT, "0", "writes to fail before succeeding"),
};
class FlakySink : public dmon::sdk::Sink {
  public:
    explicit FlakySink(const dmon::sdk::Context& context)
        : path_(*context.options.string("path")),
          failures_left_(*context.options.integer("fail_first")) {}
    void write(const dmon::sdk::Batch& batch) override {
        if (failures_left_ > 0) {
            --failures_left_;
            throw std::runtime_error("disk says no");
        }
        std::string text;
        for (size_t i = 0; i < batch.size(); ++i)
            dmon::line_protocol::append_sample(text, *batch[i].raw);
        std::ofstream(path_, std::ios::app) << text;
    }

  private:
    std::string path_;
    int64_t failures_left_;
};
}  // namespace
DMON_SINK_PLUGIN(FlakySink, "test_flaky_sink", "1.0.0", "fails, then writes", kOptions)
