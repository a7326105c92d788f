// A complete dmon sink in C++: appends each batch to a file as line protocol, and says OK only
// once the lines are on disk (a sink's OK means durable: the host forgets the batch then).
#include <dmon/line_protocol.hpp>
#include <dmon/plugin.hpp>
#include <dmon/writable_path.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#ifndef _WIN32
#include <unistd.h>
#endif

namespace {

constexpr dmon_option_decl kOptions[] = {
    dmon::sdk::option("path", DMON_OPT_STRING, nullptr, "the file to append line protocol to"),
};

class CppSink : public dmon::sdk::Sink {
  public:
    explicit CppSink(const dmon::sdk::Context& context)
        : host_(context.host), path_(context.options.string_value("path")) {
        // Bad configuration: DMON_INVALID, said by `dmon check` before anything runs.
        if (path_.empty())
            throw dmon::sdk::InvalidInput("path is required");
        if (auto problem = dmon::writable_path_problem(path_, "path"); !problem.empty())
            throw dmon::sdk::InvalidInput(problem);
        if (context.check_only)
            return;  // `dmon check`: validated; opening would create the file
        file_ = std::fopen(path_.c_str(), "ab");
        if (file_ == nullptr)
            throw dmon::sdk::InvalidInput("cannot open " + path_ + ": " + std::strerror(errno));
    }
    ~CppSink() override {
        if (file_ != nullptr)
            std::fclose(file_);
    }

    void write(const dmon::sdk::Batch& batch) override {
        std::string text;
        for (size_t i = 0; i < batch.size(); ++i)
            dmon::line_protocol::append_sample(text, *batch[i].raw);
        // Any exception is DMON_ERROR: the host keeps the batch and calls write() again later.
        if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() ||
            std::fflush(file_) != 0)
            throw std::runtime_error("cannot write " + path_ + ": " + std::strerror(errno));
#ifndef _WIN32
        if (::fsync(::fileno(file_)) != 0)
            throw std::runtime_error("cannot sync " + path_ + ": " + std::strerror(errno));
#endif
        host_.debug("wrote " + std::to_string(batch.size()) + " sample(s)");
    }

  private:
    dmon::sdk::Host host_;
    std::string path_;
    std::FILE* file_ = nullptr;
};

}  // namespace

DMON_SINK_PLUGIN(CppSink, "cpp_sink", "1.0.0", "appends line protocol to a file, synced", kOptions)
