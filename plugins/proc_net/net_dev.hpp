#pragma once

#include "proc_common/metric_point.hpp"
#include "common/name_filter.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dmon::plugins::proc_net {

struct InterfaceCounters {
    std::string device;
    uint64_t rx_bytes = 0, rx_packets = 0, rx_errors = 0, rx_dropped = 0;
    uint64_t tx_bytes = 0, tx_packets = 0, tx_errors = 0, tx_dropped = 0;
};

// Parses /proc/net/dev (two header lines, then "iface: 16 counters").
std::vector<InterfaceCounters> parse_net_dev(std::string_view text);

// Cumulative bytes, packets, errors and drops per interface and direction.
MetricPoints network_metrics(const std::vector<InterfaceCounters>& interfaces,
                             const NameFilter& filter);

}  // namespace dmon::plugins::proc_net
