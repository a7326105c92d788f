#pragma once
// The frames between the host and an isolated plugin's worker process (docs/plugin-sdk.md,
// "Isolation"). A stream socket carries frames: a 4-byte length (of what follows), a 1-byte
// type, the payload. The host asks (create, collect, write, flush, complete, stop); the worker
// answers each question but `complete` and `stop` with one reply, and may send log lines at
// any time. Pure encoding and decoding here, so both ends are tested with exact bytes; the
// worker is untrusted (it runs third-party code), so the host decodes its frames with bounds.
#include <dmon/plugin.h>

#include "dmon/core/config.hpp"
#include "dmon/core/options.hpp"
#include "dmon/core/plugin_instance.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dmon::core::worker {

enum class FrameType : uint8_t {
    create = 1,    // host: CreateRequest; reply: status and error
    collect = 2,   // host: the round's collected_at_ns; reply: status, samples, refusals
    write = 3,     // host: a batch (encode_c_batch); reply: status and error
    flush = 4,     // host: nothing; reply: status and error
    complete = 5,  // host: a completion token and whether its batch was written; no reply
    stop = 6,      // host: nothing; the worker destroys the instance and exits
    log = 20,      // worker: LogLine
    reply = 21,    // worker: Reply
};

// A batch of 100,000 samples with long labels is a few tens of MiB; anything larger is not a
// frame this protocol makes, and the reader refuses it before allocating.
constexpr uint32_t kMaxFrameBytes = 256u << 20;

struct Frame {
    FrameType type = FrameType::reply;
    std::string payload;
};

std::string encode_frame(FrameType type, std::string_view payload);

// Cuts a byte stream into frames. feed() appends what was read; next() hands out whole frames.
// A length over kMaxFrameBytes, a zero length or an unknown type is an error (the stream cannot
// be trusted after it): next() returns nullopt and error() says why.
class FrameReader {
  public:
    void feed(const char* data, size_t size) { buffer_.append(data, size); }
    std::optional<Frame> next();
    const std::string& error() const { return error_; }
    size_t buffered() const { return buffer_.size() - consumed_; }

  private:
    std::string buffer_;
    size_t consumed_ = 0;
    std::string error_;
};

struct CreateRequest {
    InstanceKind kind = InstanceKind::collector;
    bool check_only = false;
    std::string plugin_path;  // the plugin file the host loaded
    std::string instance_name;
    std::string node;
    std::string location;  // "file:line:col" of the entry, for create errors
    std::string log_level;
    OptionSet options;  // validated by the host against the plugin's declarations
};
std::string encode_create(const CreateRequest& request);
std::optional<CreateRequest> decode_create(std::string_view payload);

struct Reply {
    dmon_status status = DMON_OK;
    std::string error;
    // The plugin's own counters (dmon_host_api.count) since the last reply.
    std::vector<std::pair<std::string, uint64_t>> counters;
    // collect only: what was refused, the emitted batches (encode_sealed_batch, one part per
    // emission), and for each part its completion token (0: emitted without completion).
    dmon_emitter::Refusals refused;
    std::string batches;
    std::vector<uint64_t> tokens;
};
std::string encode_reply(const Reply& reply);
// Bounds: an error of at most 4 KiB (longer is cut), at most 1000 counters with names of at
// most 200 bytes, a status the ABI knows.
std::optional<Reply> decode_reply(std::string_view payload);

struct LogLine {
    int level = 2;  // spdlog's order: trace 0 .. error 4
    std::string text;
};
std::string encode_log(const LogLine& line);
std::optional<LogLine> decode_log(std::string_view payload);  // text cut to 8 KiB

std::string encode_collect(int64_t collected_at_ns);
std::optional<int64_t> decode_collect(std::string_view payload);
std::string encode_complete(uint64_t token, bool ok);
std::optional<std::pair<uint64_t, bool>> decode_complete(std::string_view payload);

}  // namespace dmon::core::worker
