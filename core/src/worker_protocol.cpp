#include "dmon/core/worker_protocol.hpp"

#include "dmon/core/byte_codec.hpp"

#include <algorithm>

namespace dmon::core::worker {
namespace {

constexpr size_t kMaxError = 4096;
constexpr size_t kMaxCounters = 1000;
constexpr size_t kMaxCounterName = 200;
constexpr size_t kMaxLogLine = 8192;
constexpr uint32_t kMaxOptionItems = 100000;

bool known_type(uint8_t type) {
    switch (static_cast<FrameType>(type)) {
        case FrameType::create:
        case FrameType::collect:
        case FrameType::write:
        case FrameType::flush:
        case FrameType::complete:
        case FrameType::stop:
        case FrameType::log:
        case FrameType::reply:
            return true;
    }
    return false;
}

void write_options(ByteWriter& writer, const OptionSet& options) {
    writer.number(static_cast<uint32_t>(options.values.size()));
    for (const auto& [name, value] : options.values) {
        writer.text(name);
        writer.number(static_cast<uint32_t>(value.type));
        writer.text(value.text);
        writer.number(value.integer);
        writer.number(value.number);
        writer.number(static_cast<uint8_t>(value.boolean));
        writer.number(value.duration_ns);
        writer.number(static_cast<uint32_t>(value.list.size()));
        for (const auto& item : value.list)
            writer.text(item);
        writer.number(static_cast<uint32_t>(value.map.size()));
        for (const auto& entry : value.map) {
            writer.text(entry.key);
            writer.text(entry.field);
            writer.text(entry.value);
        }
    }
}

bool read_options(ByteReader& reader, OptionSet& options) {
    uint32_t count = 0;
    if (!reader.number(count) || count > kMaxOptionItems)
        return false;
    for (uint32_t i = 0; i < count; ++i) {
        std::string name;
        dmon_options::Value value;
        uint32_t type = 0, items = 0;
        uint8_t boolean = 0;
        if (!reader.text(name) || !reader.number(type) || !reader.text(value.text) ||
            !reader.number(value.integer) || !reader.number(value.number) ||
            !reader.number(boolean) || !reader.number(value.duration_ns) || !reader.number(items) ||
            items > kMaxOptionItems) {
            return false;
        }
        value.type = static_cast<dmon_option_type>(type);
        value.boolean = boolean != 0;
        for (uint32_t k = 0; k < items; ++k) {
            std::string item;
            if (!reader.text(item))
                return false;
            value.list.push_back(std::move(item));
        }
        if (!reader.number(items) || items > kMaxOptionItems)
            return false;
        for (uint32_t k = 0; k < items; ++k) {
            dmon_options::Value::MapEntry entry;
            if (!reader.text(entry.key) || !reader.text(entry.field) || !reader.text(entry.value))
                return false;
            value.map.push_back(std::move(entry));
        }
        options.values.insert_or_assign(std::move(name), std::move(value));
    }
    return true;
}

}  // namespace

std::string encode_frame(FrameType type, std::string_view payload) {
    std::string out;
    out.reserve(5 + payload.size());
    ByteWriter writer(out);
    writer.number(static_cast<uint32_t>(payload.size() + 1));
    writer.number(static_cast<uint8_t>(type));
    out.append(payload);
    return out;
}

std::optional<Frame> FrameReader::next() {
    if (!error_.empty())
        return std::nullopt;
    const std::string_view unread = std::string_view(buffer_).substr(consumed_);
    ByteReader reader(unread);
    uint32_t length = 0;
    uint8_t type = 0;
    if (!reader.number(length))
        return std::nullopt;
    if (length == 0 || length > kMaxFrameBytes) {
        error_ = "a frame of " + std::to_string(length) + " bytes (at most " +
                 std::to_string(kMaxFrameBytes) + ")";
        return std::nullopt;
    }
    if (unread.size() < 4 + size_t{length})
        return std::nullopt;
    reader.number(type);
    if (!known_type(type)) {
        error_ = "a frame of unknown type " + std::to_string(type);
        return std::nullopt;
    }
    Frame frame{static_cast<FrameType>(type), std::string(unread.substr(5, length - 1))};
    consumed_ += 4 + size_t{length};
    // Compact now and then, not after every frame: frames are often many and small.
    if (consumed_ > (1u << 16) && consumed_ * 2 > buffer_.size()) {
        buffer_.erase(0, consumed_);
        consumed_ = 0;
    }
    return frame;
}

std::string encode_create(const CreateRequest& request) {
    std::string out;
    ByteWriter writer(out);
    writer.number(static_cast<uint8_t>(request.kind == InstanceKind::sink ? 1 : 0));
    writer.number(static_cast<uint8_t>(request.check_only));
    writer.text(request.plugin_path);
    writer.text(request.instance_name);
    writer.text(request.node);
    writer.text(request.location);
    writer.text(request.log_level);
    write_options(writer, request.options);
    return out;
}

std::optional<CreateRequest> decode_create(std::string_view payload) {
    ByteReader reader(payload);
    CreateRequest request;
    uint8_t kind = 0, check_only = 0;
    if (!reader.number(kind) || kind > 1 || !reader.number(check_only) ||
        !reader.text(request.plugin_path) || !reader.text(request.instance_name) ||
        !reader.text(request.node) || !reader.text(request.location) ||
        !reader.text(request.log_level) || !read_options(reader, request.options) ||
        reader.left() != 0) {
        return std::nullopt;
    }
    request.kind = kind == 1 ? InstanceKind::sink : InstanceKind::collector;
    request.check_only = check_only != 0;
    return request;
}

std::string encode_reply(const Reply& reply) {
    std::string out;
    ByteWriter writer(out);
    writer.number(static_cast<uint8_t>(reply.status));
    writer.text(std::string_view(reply.error).substr(0, kMaxError));
    writer.number(static_cast<uint32_t>(reply.counters.size()));
    for (const auto& [name, delta] : reply.counters) {
        writer.text(name);
        writer.number(delta);
    }
    writer.number(static_cast<uint64_t>(reply.refused.malformed));
    writer.number(static_cast<uint64_t>(reply.refused.not_finite));
    writer.number(static_cast<uint64_t>(reply.refused.sample_size));
    writer.number(static_cast<uint64_t>(reply.refused.given_sample_size));
    writer.text(reply.refused.example);
    writer.text(reply.batches);
    writer.number(static_cast<uint32_t>(reply.tokens.size()));
    for (uint64_t token : reply.tokens)
        writer.number(token);
    return out;
}

std::optional<Reply> decode_reply(std::string_view payload) {
    ByteReader reader(payload);
    Reply reply;
    uint8_t status = 0;
    std::string_view error;
    uint32_t counters = 0;
    if (!reader.number(status) || status > DMON_INVALID || !reader.text(error) ||
        !reader.number(counters) || counters > kMaxCounters) {
        return std::nullopt;
    }
    reply.status = static_cast<dmon_status>(status);
    reply.error = std::string(error.substr(0, kMaxError));
    for (uint32_t i = 0; i < counters; ++i) {
        std::string_view name;
        uint64_t delta = 0;
        if (!reader.text(name) || name.empty() || name.size() > kMaxCounterName ||
            !reader.number(delta)) {
            return std::nullopt;
        }
        reply.counters.emplace_back(std::string(name), delta);
    }
    uint64_t malformed = 0, not_finite = 0, sample_size = 0, given = 0;
    std::string_view example;
    uint32_t tokens = 0;
    if (!reader.number(malformed) || !reader.number(not_finite) || !reader.number(sample_size) ||
        !reader.number(given) || !reader.text(example) || example.size() > kMaxError ||
        !reader.text(reply.batches) || !reader.number(tokens) ||
        tokens > reader.left() / sizeof(uint64_t)) {
        return std::nullopt;
    }
    reply.refused.malformed = malformed;
    reply.refused.not_finite = not_finite;
    reply.refused.sample_size = sample_size;
    reply.refused.given_sample_size = given;
    reply.refused.example = std::string(example);
    reply.tokens.resize(tokens);
    for (auto& token : reply.tokens)
        reader.number(token);
    if (reader.left() != 0)
        return std::nullopt;
    return reply;
}

std::string encode_log(const LogLine& line) {
    std::string out;
    ByteWriter writer(out);
    writer.number(static_cast<uint8_t>(line.level));
    writer.text(std::string_view(line.text).substr(0, kMaxLogLine));
    return out;
}

std::optional<LogLine> decode_log(std::string_view payload) {
    ByteReader reader(payload);
    uint8_t level = 0;
    std::string_view text;
    if (!reader.number(level) || level > 6 || !reader.text(text) || reader.left() != 0)
        return std::nullopt;
    return LogLine{level, std::string(text.substr(0, kMaxLogLine))};
}

std::string encode_collect(int64_t collected_at_ns) {
    std::string out;
    ByteWriter(out).number(collected_at_ns);
    return out;
}

std::optional<int64_t> decode_collect(std::string_view payload) {
    ByteReader reader(payload);
    int64_t at = 0;
    if (!reader.number(at) || reader.left() != 0)
        return std::nullopt;
    return at;
}

std::string encode_complete(uint64_t token, bool ok) {
    std::string out;
    ByteWriter writer(out);
    writer.number(token);
    writer.number(static_cast<uint8_t>(ok));
    return out;
}

std::optional<std::pair<uint64_t, bool>> decode_complete(std::string_view payload) {
    ByteReader reader(payload);
    uint64_t token = 0;
    uint8_t ok = 0;
    if (!reader.number(token) || !reader.number(ok) || reader.left() != 0)
        return std::nullopt;
    return std::make_pair(token, ok != 0);
}

}  // namespace dmon::core::worker
