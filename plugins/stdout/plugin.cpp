// stdout: writes every sample as one line of line protocol (docs/wire-format.md) to standard
// output, or to a file. Useful to look at what a host collects, and to pipe it elsewhere.
#include <dmon/line_protocol.hpp>
#include <dmon/plugin.hpp>
#include <dmon/writable_path.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace dmon::plugins::stdout_sink {

constexpr dmon_option_decl kOptions[] = {
    sdk::option("path", DMON_OPT_STRING, nullptr, "append to this file instead of standard output"),
};

class StdoutSink : public sdk::Sink {
  public:
    explicit StdoutSink(const sdk::Context& context) : host_(context.host) {
        if (auto path = context.options.string("path")) {
            if (context.check_only) {
                // `dmon check`: opening would create the file.
                if (auto problem = writable_path_problem(*path, "path"); !problem.empty())
                    throw sdk::InvalidInput(problem);
                return;
            }
            file_ = std::fopen(path->c_str(), "ab");
            if (file_ == nullptr)
                throw sdk::InvalidInput("cannot open " + *path + ": " + std::strerror(errno));
            owned_ = true;
            path_ = *path;
        }
    }
    ~StdoutSink() override {
        if (owned_)
            std::fclose(file_);
    }

    void write(const sdk::Batch& batch) override {
        text_.clear();
        size_t skipped = 0;
        for (size_t i = 0; i < batch.size(); ++i) {
            if (!line_protocol::append_sample(text_, *batch[i].raw))
                ++skipped;
        }
        if (skipped > 0) {
            host_.warn(std::to_string(skipped) +
                       " sample(s) not written: NaN or infinite values have no line protocol form");
        }
        if (std::fwrite(text_.data(), 1, text_.size(), file_) != text_.size() ||
            std::fflush(file_) != 0) {
            throw std::runtime_error("cannot write to " + path_ + ": " + std::strerror(errno));
        }
    }

  private:
    sdk::Host host_;
    std::FILE* file_ = stdout;
    bool owned_ = false;
    std::string path_ = "standard output";
    std::string text_;
};

}  // namespace dmon::plugins::stdout_sink

DMON_SINK_PLUGIN(dmon::plugins::stdout_sink::StdoutSink, "stdout", "1.0.0",
                 "writes samples as line protocol to standard output or a file",
                 dmon::plugins::stdout_sink::kOptions)
