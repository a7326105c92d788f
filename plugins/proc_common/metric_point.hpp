#pragma once

#include <dmon/plugin.hpp>

#include <string>
#include <utility>
#include <vector>

namespace dmon::plugins {

// One sample as the parsers produce it: plain data, so tests compare exact values and the
// plugin entry hands them to the host's Emitter.
struct MetricPoint {
    std::string name;
    std::vector<std::pair<std::string, std::string>> labels;
    double value = 0;
    dmon_sample_type type = DMON_GAUGE;

    bool operator==(const MetricPoint&) const = default;
};

using MetricPoints = std::vector<MetricPoint>;

void emit_all(const MetricPoints& points, dmon::sdk::Emitter& out);

// Finds the value of the sample with this name and these labels (tests, and `dmon once` checks).
const MetricPoint* find_point(const MetricPoints& points, const std::string& name,
                              const std::vector<std::pair<std::string, std::string>>& labels);

}  // namespace dmon::plugins
