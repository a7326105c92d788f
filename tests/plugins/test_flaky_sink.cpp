// A sink for tests: appends line protocol to `path`, failing its first `fail_first` writes. With
// `crash_on_write: N` it crashes (SIGSEGV) on its Nth write, once: the first crash leaves
// `crash_marker`, and a process that finds it writes on (isolation tests: the restarted worker).
#include <dmon/line_protocol.hpp>
#include <dmon/plugin.hpp>

#include <fstream>

namespace {
constexpr dmon_option_decl kOptions[] = {
    dmon::sdk::option("path", DMON_OPT_STRING, nullptr, "file to append to", true),
    dmon::sdk::option("fail_first", DMON_OPT_INT, "0", "writes to fail before succeeding"),
    dmon::sdk::option("crash_on_write", DMON_OPT_INT, "0", "crash on this write (0: never)"),
    dmon::sdk::option("crash_marker", DMON_OPT_STRING, "", "file that says it crashed already"),
};
class FlakySink : public dmon::sdk::Sink {
  public:
    explicit FlakySink(const dmon::sdk::Context& context)
        : path_(*context.options.string("path")),
          failures_left_(*context.options.integer("fail_first")),
          crash_on_write_(*context.options.integer("crash_on_write")),
          crash_marker_(*context.options.string("crash_marker")) {}
    void write(const dmon::sdk::Batch& batch) override {
        if (++writes_ == crash_on_write_ && !std::ifstream(crash_marker_)) {
            std::ofstream(crash_marker_) << "crashed\n";
            volatile int* nowhere = nullptr;
            *nowhere = 1;
        }
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
    int64_t crash_on_write_;
    std::string crash_marker_;
    int64_t writes_ = 0;
};
}  // namespace
DMON_SINK_PLUGIN(FlakySink, "test_flaky_sink", "1.0.0", "fails, then writes", kOptions)
