#pragma once
// Shared by the parser tests: recorded /proc text, and one sample's value by name and labels.
#include "proc_common/metric_point.hpp"
#include "proc_common/read_file.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace dmon::plugins {

inline std::string recorded(const std::string& name) {
    return read_file(std::string(DMON_TEST_DATA_DIR) + "/proc/" + name);
}

inline double value_of(const MetricPoints& points, const std::string& name,
                       const std::vector<std::pair<std::string, std::string>>& labels) {
    const MetricPoint* point = find_point(points, name, labels);
    EXPECT_NE(point, nullptr) << name;
    return point ? point->value : -1;
}

}  // namespace dmon::plugins
