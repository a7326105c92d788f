#include "dmon/core/sample_batch.hpp"

#include <dmon/str.hpp>

namespace dmon::core {

SampleBatch::Span SampleBatch::store(std::string_view text) {
    Span span{static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(text.size())};
    arena_.append(text);
    return span;
}

void SampleBatch::add(const dmon_sample& sample, std::string_view host_label,
                      int64_t default_timestamp) {
    Record record{};
    record.name = store(to_view(sample.name));
    record.label_begin = static_cast<uint32_t>(labels_.size());
    bool has_host = false;
    for (size_t i = 0; i < sample.label_count; ++i) {
        if (to_view(sample.labels[i].key) == "host")
            has_host = true;
    }
    if (!has_host && !host_label.empty())
        labels_.push_back({store("host"), store(host_label)});
    for (size_t i = 0; i < sample.label_count; ++i) {
        labels_.push_back(
            {store(to_view(sample.labels[i].key)), store(to_view(sample.labels[i].value))});
    }
    record.label_end = static_cast<uint32_t>(labels_.size());
    record.value = sample.value;
    record.timestamp_ns = sample.timestamp_ns != 0 ? sample.timestamp_ns : default_timestamp;
    record.type = sample.type == DMON_COUNTER ? DMON_COUNTER : DMON_GAUGE;
    samples_.push_back(record);
}

void SampleBatch::add(std::string_view name,
                      std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
                      double value, dmon_sample_type type, int64_t timestamp_ns) {
    Record record{};
    record.name = store(name);
    record.label_begin = static_cast<uint32_t>(labels_.size());
    for (const auto& [key, label_value] : labels) {
        labels_.push_back({store(key), store(label_value)});
    }
    record.label_end = static_cast<uint32_t>(labels_.size());
    record.value = value;
    record.timestamp_ns = timestamp_ns;
    record.type = type;
    samples_.push_back(record);
}

void SampleBatch::to_c(std::vector<dmon_sample>& samples, std::vector<dmon_label>& labels) const {
    const size_t label_base = labels.size();
    for (const auto& [key, value] : labels_)
        labels.push_back({view(key), view(value)});
    for (const Record& record : samples_) {
        dmon_sample sample{};
        sample.name = view(record.name);
        sample.labels = labels.data() + label_base + record.label_begin;
        sample.label_count = record.label_end - record.label_begin;
        sample.value = record.value;
        sample.timestamp_ns = record.timestamp_ns;
        sample.type = record.type;
        samples.push_back(sample);
    }
}

}  // namespace dmon::core
