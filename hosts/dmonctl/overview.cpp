#include "overview.hpp"

#include <algorithm>
#include <map>

namespace dmon::ctl {

namespace {
bool has_label(const std::string& labels, const std::string& label) {
    return ("," + labels + ",").find("," + label + ",") != std::string::npos;
}

// The sum over every series of a counter (all devices) of its newest per-second rate, split by
// the `direction` label.
void newest_rates(store::Reader& reader, const std::string& metric, store::QueryRange range,
                  const std::string& first_direction, std::map<std::string, HostOverview*>& hosts,
                  std::optional<double> HostOverview::*first,
                  std::optional<double> HostOverview::*second) {
    reader.scan(metric, std::nullopt, range, true,
                [&](const store::Row& series, const std::vector<store::Point>& rates) {
                    auto it = hosts.find(series.host);
                    if (it == hosts.end() || rates.empty())
                        return true;
                    HostOverview& host = *it->second;
                    auto& total = has_label(series.labels, "direction=" + first_direction)
                                      ? host.*first
                                      : host.*second;
                    total = total.value_or(0) + rates.back().value;
                    return true;
                });
}
}  // namespace

std::vector<int64_t> sparkline_grid(const OverviewOptions& options) {
    const int64_t step = std::max<int64_t>(1, options.window_ns / std::max(1, options.buckets));
    std::vector<int64_t> grid;
    for (int b = 0; b < options.buckets; ++b)
        grid.push_back(options.now_ns - options.window_ns + b * step + step / 2);
    return grid;
}

int64_t stale_after(int64_t interval_ns) {
    return std::max<int64_t>(3 * interval_ns, 10'000'000'000);
}

std::vector<HostOverview> overview(store::Reader& reader, const OverviewOptions& options) {
    std::vector<HostOverview> out;
    for (auto& [host, newest] : reader.last_seen())
        out.push_back({host, newest});
    std::map<std::string, HostOverview*> by_host;
    for (auto& host : out)
        by_host[host.host] = &host;
    const int64_t now = options.now_ns;
    const int64_t from = now - options.window_ns;
    const int64_t step = std::max<int64_t>(1, options.window_ns / std::max(1, options.buckets));
    // The interval is estimated from 15 minutes at least, whatever the sparkline's window.
    const int64_t history = std::min(from, now - kIntervalHistoryNs);

    reader.scan(
        "system.cpu.utilization", std::nullopt, {history, now}, false,
        [&](const store::Row& series, const std::vector<store::Point>& points) {
            auto it = by_host.find(series.host);
            if (it == by_host.end() || points.empty())
                return true;
            HostOverview& host = *it->second;
            host.cpu = points.back().value;
            host.cpu_recent.assign(static_cast<size_t>(std::max(1, options.buckets)), std::nullopt);
            // The median gap of the newest points: a restart's pause does not count.
            std::vector<int64_t> gaps;
            for (size_t i = points.size() > 64 ? points.size() - 64 : 1; i < points.size(); ++i)
                gaps.push_back(points[i].ts - points[i - 1].ts);
            if (!gaps.empty()) {
                std::nth_element(gaps.begin(), gaps.begin() + gaps.size() / 2, gaps.end());
                host.interval_ns = gaps[gaps.size() / 2];
            }
            // Mean per bucket, buckets aligned to the window's end.
            double sum = 0;
            int count = 0;
            int64_t bucket = -1;
            auto flush = [&] {
                if (count > 0 && bucket >= 0 &&
                    bucket < static_cast<int64_t>(host.cpu_recent.size()))
                    host.cpu_recent[static_cast<size_t>(bucket)] = sum / count;
            };
            for (const auto& p : points) {
                if (p.ts < from)
                    continue;
                const int64_t b = std::min<int64_t>((p.ts - from) / step, options.buckets - 1);
                if (b != bucket) {
                    flush();
                    bucket = b;
                    sum = 0;
                    count = 0;
                }
                sum += p.value;
                ++count;
            }
            flush();
            return true;
        },
        [](const store::Row& series) { return series.labels == "cpu=total"; });
    for (auto& host : out) {
        if (host.interval_ns <= 0)
            host.interval_ns = kDefaultIntervalNs;
        host.stale = now - host.last_seen_ns > stale_after(host.interval_ns);
        if (!options.values) {
            host.cpu.reset();
            host.cpu_recent.clear();
        } else if (host.cpu_recent.empty()) {
            host.cpu_recent.assign(static_cast<size_t>(std::max(1, options.buckets)), std::nullopt);
        }
    }
    if (!options.values)
        return out;
    for (const auto& row : reader.latest(std::nullopt, "system.memory.usage"))
        if (auto it = by_host.find(row.host); it != by_host.end() && row.labels == "state=used")
            it->second->memory_used = row.value;
    for (const auto& row : reader.latest(std::nullopt, "system.memory.limit"))
        if (auto it = by_host.find(row.host); it != by_host.end())
            it->second->memory_limit = row.value;
    // Rates from the last two minutes (at least two points of a 1 s or 10 s agent).
    const store::QueryRange recent{now - 120'000'000'000, now};
    newest_rates(reader, "system.disk.io", recent, "read", by_host, &HostOverview::disk_read,
                 &HostOverview::disk_write);
    newest_rates(reader, "system.network.io", recent, "receive", by_host,
                 &HostOverview::network_receive, &HostOverview::network_transmit);
    return out;
}

}  // namespace dmon::ctl
