#include "dmon/core/sealed_batch.hpp"

#include "dmon/core/byte_codec.hpp"

#include <dmon/str.hpp>

#include <algorithm>
#include <cstring>

namespace dmon::core {
namespace {

// Little-endian on every platform dmon runs on (x86-64, arm64); the spool is read back on the
// machine that wrote it, so the byte order is the machine's.
constexpr uint32_t kFormatVersion = 1;

using Writer = ByteWriter;
using Reader = ByteReader;

void write_sample(Writer& writer, const dmon_sample& sample) {
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
        for (const auto& sample : samples)
            write_sample(writer, sample);
    }
    return out;
}

std::string encode_c_batch(const dmon_batch& batch) {
    const auto sample_at = [&](size_t index) -> const dmon_sample& {
        return *reinterpret_cast<const dmon_sample*>(
            reinterpret_cast<const unsigned char*>(batch.samples) + index * batch.sample_size);
    };
    // Parts: [first, end) with an origin or none, in order, covering every sample once.
    struct Part {
        size_t first, end;
        std::string_view origin;
    };
    std::vector<Part> parts;
    size_t at = 0;
    for (size_t o = 0; o < batch.origin_count; ++o) {
        const dmon_origin& origin = batch.origins[o];
        const size_t first = std::min(origin.first, batch.sample_count);
        const size_t end = std::min(first + origin.count, batch.sample_count);
        if (first < at)
            continue;  // overlapping runs: not made by the host; keep each sample once
        if (first > at)
            parts.push_back({at, first, {}});
        parts.push_back({first, end, to_view(origin.id)});
        at = end;
    }
    if (at < batch.sample_count || parts.empty())
        parts.push_back({at, batch.sample_count, {}});

    std::string out;
    Writer writer(out);
    writer.number(kFormatVersion);
    writer.text(to_view(batch.id));
    writer.number(int64_t{0});
    writer.number(static_cast<uint32_t>(parts.size()));
    for (const auto& part : parts) {
        writer.text(std::string_view());
        writer.text(part.origin);
        writer.number(static_cast<uint32_t>(part.end - part.first));
        for (size_t i = part.first; i < part.end; ++i)
            write_sample(writer, sample_at(i));
    }
    return out;
}

const dmon_batch& CBatchView::view(const SealedBatch& batch) {
    samples_.clear();
    labels_.clear();
    origins_.clear();
    size_t labels = 0;
    for (const auto& part : batch.parts)
        labels += part->label_count();
    samples_.reserve(batch.samples);
    labels_.reserve(labels);  // reserved once: label pointers must not move
    for (const auto& part : batch.parts) {
        if (!part->origin().empty()) {
            origins_.push_back({dmon_str{part->origin().data(), part->origin().size()},
                                samples_.size(), part->size()});
        }
        part->to_c(samples_, labels_);
    }
    batch_ = dmon_batch{sizeof(dmon_batch),
                        samples_.data(),
                        samples_.size(),
                        sizeof(dmon_sample),
                        origins_.data(),
                        origins_.size(),
                        dmon_str{batch.id.data(), batch.id.size()}};
    return batch_;
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
