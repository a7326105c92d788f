#include "proc_common/metric_point.hpp"

namespace dmon::plugins {

void emit_all(const MetricPoints& points, dmon::sdk::Emitter& out) {
    std::vector<dmon::sdk::Label> labels;
    for (const auto& point : points) {
        labels.clear();
        for (const auto& [key, value] : point.labels)
            labels.push_back({key, value});
        out.add(point.name, labels.begin(), labels.end(), point.value, point.type, 0);
    }
}

const MetricPoint* find_point(const MetricPoints& points, const std::string& name,
                              const std::vector<std::pair<std::string, std::string>>& labels) {
    for (const auto& point : points) {
        if (point.name == name && point.labels == labels)
            return &point;
    }
    return nullptr;
}

}  // namespace dmon::plugins
