#pragma once
// Builds dmon_batch values by hand, as the host hands them to a sink.
#include <dmon/plugin.h>

#include <deque>
#include <string>
#include <vector>

namespace dmon::test {

class BatchBuilder {
  public:
    BatchBuilder& add(std::string name, std::vector<std::pair<std::string, std::string>> labels,
                      double value, int64_t timestamp, dmon_sample_type type = DMON_GAUGE) {
        entries_.push_back({std::move(name), std::move(labels), value, timestamp, type});
        return *this;
    }
    // The next `count` samples added came from input `id` (an AMQP message_id).
    BatchBuilder& origin(std::string id, size_t count) {
        origin_ids_.push_back(std::move(id));
        origin_ranges_.push_back({entries_.size(), count});
        return *this;
    }
    const dmon_batch& build() {
        labels_.clear();
        samples_.clear();
        for (const auto& e : entries_) {
            labels_.emplace_back();
            for (const auto& [k, v] : e.labels)
                labels_.back().push_back({{k.data(), k.size()}, {v.data(), v.size()}});
        }
        for (size_t i = 0; i < entries_.size(); ++i) {
            const auto& e = entries_[i];
            samples_.push_back({{e.name.data(), e.name.size()},
                                labels_[i].data(),
                                labels_[i].size(),
                                e.value,
                                e.timestamp,
                                static_cast<uint32_t>(e.type)});
        }
        origins_.clear();
        for (size_t i = 0; i < origin_ids_.size(); ++i) {
            origins_.push_back({{origin_ids_[i].data(), origin_ids_[i].size()},
                                origin_ranges_[i].first,
                                origin_ranges_[i].second});
        }
        batch_ = {sizeof(dmon_batch),  samples_.data(), samples_.size(),
                  sizeof(dmon_sample), origins_.data(), origins_.size()};
        return batch_;
    }

  private:
    struct Entry {
        std::string name;
        std::vector<std::pair<std::string, std::string>> labels;
        double value;
        int64_t timestamp;
        dmon_sample_type type;
    };
    std::deque<Entry> entries_;
    std::deque<std::string> origin_ids_;
    std::vector<std::pair<size_t, size_t>> origin_ranges_;
    std::deque<std::vector<dmon_label>> labels_;
    std::vector<dmon_sample> samples_;
    std::vector<dmon_origin> origins_;
    dmon_batch batch_{};
};

}  // namespace dmon::test
