#include "proc_net/net_dev.hpp"

#include "proc_common/text.hpp"

namespace dmon::plugins::proc_net {

std::vector<InterfaceCounters> parse_net_dev(std::string_view text) {
    std::vector<InterfaceCounters> interfaces;
    for_each_line(text, [&](std::string_view line) {
        const size_t colon = line.find(':');
        if (colon == std::string_view::npos)
            return;  // the header lines have '|' but no ':'
        const auto names = split_fields(line.substr(0, colon));
        uint64_t v[16] = {};
        if (names.size() != 1 || !parse_u64_fields(split_fields(line.substr(colon + 1)), 0, v))
            return;
        InterfaceCounters counters;
        counters.device = std::string(names[0]);
        counters.rx_bytes = v[0];
        counters.rx_packets = v[1];
        counters.rx_errors = v[2];
        counters.rx_dropped = v[3];
        counters.tx_bytes = v[8];
        counters.tx_packets = v[9];
        counters.tx_errors = v[10];
        counters.tx_dropped = v[11];
        interfaces.push_back(std::move(counters));
    });
    return interfaces;
}

MetricPoints network_metrics(const std::vector<InterfaceCounters>& interfaces,
                             const NameFilter& filter) {
    MetricPoints points;
    for (const auto& i : interfaces) {
        if (!filter.accepts(i.device))
            continue;
        auto both = [&](const char* name, uint64_t receive, uint64_t transmit) {
            points.push_back({name,
                              {{"device", i.device}, {"direction", "receive"}},
                              static_cast<double>(receive),
                              DMON_COUNTER});
            points.push_back({name,
                              {{"device", i.device}, {"direction", "transmit"}},
                              static_cast<double>(transmit),
                              DMON_COUNTER});
        };
        both("system.network.io", i.rx_bytes, i.tx_bytes);
        both("system.network.packets", i.rx_packets, i.tx_packets);
        both("system.network.errors", i.rx_errors, i.tx_errors);
        both("system.network.dropped", i.rx_dropped, i.tx_dropped);
    }
    return points;
}

}  // namespace dmon::plugins::proc_net
