#include "wmi_common/wmi_metrics.hpp"

#include "proc_common/text.hpp"

#include <algorithm>
#include <stdexcept>

namespace dmon::plugins::wmi {

std::optional<uint64_t> unsigned_of(const WmiRow& row, const std::string& property) {
    auto it = row.find(property);
    uint64_t value = 0;
    if (it == row.end() || !parse_u64(it->second, value))
        return std::nullopt;
    return value;
}

namespace {
uint64_t required(const WmiRow& row, const std::string& property, const char* cls) {
    auto value = unsigned_of(row, property);
    if (!value)
        throw std::runtime_error(std::string(cls) + " has no numeric " + property);
    return *value;
}
std::string name_of(const WmiRow& row) {
    auto it = row.find("Name");
    return it == row.end() ? std::string() : it->second;
}
}  // namespace

MetricPoints memory_metrics(const WmiRow& os) {
    constexpr const char* kClass = "Win32_OperatingSystem";
    const double total = static_cast<double>(required(os, "TotalVisibleMemorySize", kClass)) * 1024;
    const double free = static_cast<double>(required(os, "FreePhysicalMemory", kClass)) * 1024;
    const double virtual_total =
        static_cast<double>(required(os, "TotalVirtualMemorySize", kClass)) * 1024;
    const double virtual_free =
        static_cast<double>(required(os, "FreeVirtualMemory", kClass)) * 1024;
    return {
        {"system.memory.limit", {}, total, DMON_GAUGE},
        {"system.memory.usage", {{"state", "used"}}, std::max(0.0, total - free), DMON_GAUGE},
        {"system.memory.usage", {{"state", "free"}}, free, DMON_GAUGE},
        {"system.memory.available", {}, free, DMON_GAUGE},
        {"system.paging.usage",
         {{"state", "used"}},
         std::max(0.0, virtual_total - virtual_free),
         DMON_GAUGE},
        {"system.paging.usage", {{"state", "free"}}, virtual_free, DMON_GAUGE},
    };
}

uint64_t CounterTotals::update(const std::string& key, uint64_t raw) {
    auto it = states_.find(key);
    if (it == states_.end()) {
        states_.emplace(key, State{raw, raw});
        return raw;
    }
    State& state = it->second;
    uint64_t delta;
    if (raw >= state.last_raw) {
        delta = raw - state.last_raw;
    } else if (state.last_raw <= 0xFFFFFFFFull) {
        delta = (uint64_t{1} << 32) - state.last_raw + raw;  // a 32-bit counter wrapped
    } else {
        delta = raw;  // restarted from zero
    }
    state.last_raw = raw;
    state.total += delta;
    return state.total;
}

void CounterTotals::forget_missing(const std::vector<std::string>& present) {
    for (auto it = states_.begin(); it != states_.end();) {
        const std::string device = it->first.substr(0, it->first.find('\n'));
        if (std::find(present.begin(), present.end(), device) == present.end())
            it = states_.erase(it);
        else
            ++it;
    }
}

MetricPoints CpuMetrics::update(const std::vector<WmiRow>& rows) {
    constexpr const char* kClass = "Win32_PerfRawData_PerfOS_Processor";
    constexpr double k100ns = 1e7;
    MetricPoints points;
    for (const auto& row : rows) {
        std::string cpu = name_of(row);
        if (cpu == "_Total")
            cpu = "total";
        else if (!per_cpu_)
            continue;
        const uint64_t idle = required(row, "PercentIdleTime", kClass);
        const uint64_t timestamp = required(row, "Timestamp_Sys100NS", kClass);
        const std::pair<const char*, const char*> states[] = {{"user", "PercentUserTime"},
                                                              {"system", "PercentPrivilegedTime"},
                                                              {"idle", "PercentIdleTime"},
                                                              {"irq", "PercentInterruptTime"}};
        for (const auto& [state, property] : states) {
            if (auto value = unsigned_of(row, property)) {
                points.push_back({"system.cpu.time",
                                  {{"cpu", cpu}, {"state", state}},
                                  static_cast<double>(*value) / k100ns,
                                  DMON_COUNTER});
            }
        }
        auto previous = previous_.find(cpu);
        if (previous != previous_.end() && timestamp > previous->second.timestamp &&
            idle >= previous->second.idle) {
            const double elapsed = static_cast<double>(timestamp - previous->second.timestamp);
            const double idle_share = static_cast<double>(idle - previous->second.idle) / elapsed;
            points.push_back({"system.cpu.utilization",
                              {{"cpu", cpu}},
                              std::clamp(1.0 - idle_share, 0.0, 1.0),
                              DMON_GAUGE});
        }
        previous_[cpu] = {idle, timestamp};
    }
    return points;
}

MetricPoints DiskMetrics::update(const std::vector<WmiRow>& rows) {
    constexpr const char* kClass = "Win32_PerfRawData_PerfDisk_PhysicalDisk";
    MetricPoints points;
    std::vector<std::string> present;
    for (const auto& row : rows) {
        const std::string device = name_of(row);
        if (device == "_Total" || !filter_.accepts(device))
            continue;
        present.push_back(device);
        auto total = [&](const char* property) {
            return static_cast<double>(
                totals_.update(device + "\n" + property, required(row, property, kClass)));
        };
        auto both = [&](const char* name, double read, double write) {
            points.push_back(
                {name, {{"device", device}, {"direction", "read"}}, read, DMON_COUNTER});
            points.push_back(
                {name, {{"device", device}, {"direction", "write"}}, write, DMON_COUNTER});
        };
        both("system.disk.operations", total("DiskReadsPersec"), total("DiskWritesPersec"));
        both("system.disk.io", total("DiskReadBytesPersec"), total("DiskWriteBytesPersec"));
    }
    totals_.forget_missing(present);
    return points;
}

MetricPoints NetworkMetrics::update(const std::vector<WmiRow>& rows) {
    constexpr const char* kClass = "Win32_PerfRawData_Tcpip_NetworkInterface";
    MetricPoints points;
    std::vector<std::string> present;
    for (const auto& row : rows) {
        const std::string device = name_of(row);
        if (!filter_.accepts(device))
            continue;
        present.push_back(device);
        auto total = [&](const char* property) {
            return static_cast<double>(
                totals_.update(device + "\n" + property, required(row, property, kClass)));
        };
        auto both = [&](const char* name, double receive, double transmit) {
            points.push_back(
                {name, {{"device", device}, {"direction", "receive"}}, receive, DMON_COUNTER});
            points.push_back(
                {name, {{"device", device}, {"direction", "transmit"}}, transmit, DMON_COUNTER});
        };
        both("system.network.io", total("BytesReceivedPersec"), total("BytesSentPersec"));
        both("system.network.packets", total("PacketsReceivedPersec"), total("PacketsSentPersec"));
        both("system.network.errors", total("PacketsReceivedErrors"),
             total("PacketsOutboundErrors"));
        both("system.network.dropped", total("PacketsReceivedDiscarded"),
             total("PacketsOutboundDiscarded"));
    }
    totals_.forget_missing(present);
    return points;
}

}  // namespace dmon::plugins::wmi
