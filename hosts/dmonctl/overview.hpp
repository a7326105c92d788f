#pragma once
// Every host now: CPU, memory, disk and network, the last 15 minutes of CPU, when it was last
// seen and whether it stopped reporting. One owner for `dmonctl top` and the page's overview.
#include <dmon/store/reader.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dmon::ctl {

struct HostOverview {
    std::string host;
    int64_t last_seen_ns = 0;
    int64_t interval_ns = 0;    // how often it reports, estimated from the window's CPU points
    bool stale = false;         // nothing for longer than stale_after(interval_ns)
    std::optional<double> cpu;  // 0..1, all CPUs, the newest point
    std::optional<double> memory_used, memory_limit;          // bytes
    std::optional<double> disk_read, disk_write;              // bytes/s, every device, newest rate
    std::optional<double> network_receive, network_transmit;  // bytes/s, every interface
    // The sparkline: the mean of each bucket of sparkline_grid(), nullopt where there is no point.
    std::vector<std::optional<double>> cpu_recent;
};

struct OverviewOptions {
    int64_t now_ns = 0;
    int64_t window_ns = 15 * 60 * 1'000'000'000LL;
    int buckets = 60;    // sparkline points
    bool values = true;  // false: only last seen, interval and stale (the host list)
};

// The middle of each sparkline bucket: the window's start + (i + 0.5) x window / buckets.
std::vector<int64_t> sparkline_grid(const OverviewOptions& options);

// A host's interval when it cannot be estimated (fewer than two CPU points in 15 minutes).
constexpr int64_t kDefaultIntervalNs = 10'000'000'000;
constexpr int64_t kIntervalHistoryNs = 15 * 60 * 1'000'000'000LL;

// A host is stale after three of its intervals without a sample, and never sooner than 10 s
// (delivery through the broker and batching add a second or two).
int64_t stale_after(int64_t interval_ns);

std::vector<HostOverview> overview(store::Reader& reader, const OverviewOptions& options);

}  // namespace dmon::ctl
