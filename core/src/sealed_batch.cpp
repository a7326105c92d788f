#include "dmon/core/sealed_batch.hpp"

#include <dmon/str.hpp>

#include <cstring>

namespace dmon::core {
namespace {

// Little-endian on every platform dmon runs on (x86-64, arm64); the spool is read back on the
// machine that wrote it, so the byte order is the machine's.
constexpr uint32_t kFormatVersion = 1;

class Writer {
  public:
    explicit Writer(std::string& out) : out_(out) {}
    template <typename T>
    void number(T value) {
        char bytes[sizeof(T)];
        std::memcpy(bytes, &value, sizeof(T));
        out_.append(bytes, sizeof(T));
    }
    void text(std::string_view value) {
        number(static_cast<uint32_t>(value.size()));
        out_.append(value);
    }
    void text(dmon_str value) { text(to_view(value)); }

  private:
    std::string& out_;
};

class Reader {
  public:
    explicit Reader(std::string_view in) : in_(in) {}
    template <typename T>
    bool number(T& value) {
        if (in_.size() < sizeof(T))
            return false;
        std::memcpy(&value, in_.data(), sizeof(T));
        in_.remove_prefix(sizeof(T));
        return true;
    }
    bool text(std::string_view& value) {
        uint32_t size = 0;
        if (!number(size) || in_.size() < size)
            return false;
        value = in_.substr(0, size);
        in_.remove_prefix(size);
        return true;
    }
    size_t left() const { return in_.size(); }

  private:
    std::string_view in_;
};

}  // namespace

std::string encode_sealed_batch(const SealedBatch& batch) {
    std::string out;
    Writer writer(out);
    writer.number(kFormatVersion);
    writer.text(batch.id);
    writer.number(batch.sealed_at_ns);
    writer.number(static_cast<uint32_t>(batch.parts.size()));
    std::vector<dmon_sample> samples;
    std::vector<dmon_label> labels;
    for (const auto& part : batch.parts) {
        writer.text(part->source());
        writer.text(part->origin());
        samples.clear();
        labels.clear();
        labels.reserve(part->label_count());
        part->to_c(samples, labels);
        writer.number(static_cast<uint32_t>(samples.size()));
        for (const auto& sample : samples) {
            writer.text(sample.name);
            writer.number(static_cast<uint32_t>(sample.label_count));
            for (size_t i = 0; i < sample.label_count; ++i) {
                writer.text(sample.labels[i].key);
                writer.text(sample.labels[i].value);
            }
            writer.number(sample.value);
            writer.number(sample.timestamp_ns);
            writer.number(static_cast<uint8_t>(sample.type));
        }
    }
    return out;
}

std::optional<SealedBatch> decode_sealed_batch(std::string_view payload) {
    Reader reader(payload);
    uint32_t version = 0, part_count = 0;
    std::string_view id;
    SealedBatch batch;
    if (!reader.number(version) || version != kFormatVersion || !reader.text(id) ||
        !reader.number(batch.sealed_at_ns) || !reader.number(part_count)) {
        return std::nullopt;
    }
    batch.id = std::string(id);
    std::vector<dmon_label> labels;
    for (uint32_t p = 0; p < part_count; ++p) {
        std::string_view source, origin;
        uint32_t sample_count = 0;
        if (!reader.text(source) || !reader.text(origin) || !reader.number(sample_count))
            return std::nullopt;
        // Each sample takes at least 25 bytes: a count larger than what is left is a lie.
        if (sample_count > reader.left() / 25 + 1)
            return std::nullopt;
        auto part = std::make_shared<SampleBatch>(std::string(source));
        part->set_origin(std::string(origin));
        for (uint32_t s = 0; s < sample_count; ++s) {
            std::string_view name;
            uint32_t label_count = 0;
            if (!reader.text(name) || !reader.number(label_count) ||
                label_count > reader.left() / 8) {
                return std::nullopt;
            }
            labels.resize(label_count);
            for (auto& label : labels) {
                std::string_view key, value;
                if (!reader.text(key) || !reader.text(value))
                    return std::nullopt;
                label = dmon_label{to_str(key), to_str(value)};
            }
            dmon_sample sample{};
            uint8_t type = 0;
            if (!reader.number(sample.value) || !reader.number(sample.timestamp_ns) ||
                !reader.number(type) || type > DMON_COUNTER) {
                return std::nullopt;
            }
            sample.name = to_str(name);
            sample.labels = labels.data();
            sample.label_count = labels.size();
            sample.type = type;
            part->add(sample, {}, sample.timestamp_ns);
        }
        batch.add(std::move(part));
    }
    if (reader.left() != 0)
        return std::nullopt;
    return batch;
}

}  // namespace dmon::core
