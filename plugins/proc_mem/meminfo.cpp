#include "proc_mem/meminfo.hpp"

#include "proc_common/text.hpp"

#include <stdexcept>

namespace dmon::plugins::proc_mem {

std::map<std::string, uint64_t, std::less<>> parse_meminfo(std::string_view text) {
    std::map<std::string, uint64_t, std::less<>> fields;
    for_each_line(text, [&](std::string_view line) {
        const size_t colon = line.find(':');
        if (colon == std::string_view::npos)
            return;
        const auto values = split_fields(line.substr(colon + 1));
        uint64_t value = 0;
        if (!parse_u64_fields(values, 0, std::span(&value, 1)))
            return;
        const bool kilobytes = values.size() > 1 && values[1] == "kB";
        fields.emplace(std::string(line.substr(0, colon)), kilobytes ? value * 1024 : value);
    });
    return fields;
}

MetricPoints memory_metrics(const std::map<std::string, uint64_t, std::less<>>& fields) {
    auto get = [&](std::string_view name) -> uint64_t {
        auto it = fields.find(name);
        return it == fields.end() ? 0 : it->second;
    };
    for (const char* required : {"MemTotal", "MemFree"}) {
        if (!fields.contains(std::string_view(required))) {
            throw std::runtime_error(std::string("meminfo has no ") + required + " line");
        }
    }
    const uint64_t total = get("MemTotal");
    const uint64_t free = get("MemFree");
    const uint64_t buffers = get("Buffers");
    const uint64_t cached = get("Cached") + get("SReclaimable");
    const uint64_t not_used = free + buffers + cached;
    const uint64_t used = total > not_used ? total - not_used : total - std::min(total, free);
    // Kernels before 3.14 have no MemAvailable; free + buffers + cached is the old estimate.
    const uint64_t available = fields.contains(std::string_view("MemAvailable"))
                                   ? get("MemAvailable")
                                   : std::min(total, not_used);
    const uint64_t swap_total = get("SwapTotal");
    const uint64_t swap_free = std::min(get("SwapFree"), swap_total);

    auto d = [](uint64_t v) { return static_cast<double>(v); };
    return {
        {"system.memory.limit", {}, d(total), DMON_GAUGE},
        {"system.memory.usage", {{"state", "used"}}, d(used), DMON_GAUGE},
        {"system.memory.usage", {{"state", "free"}}, d(free), DMON_GAUGE},
        {"system.memory.usage", {{"state", "cached"}}, d(cached), DMON_GAUGE},
        {"system.memory.usage", {{"state", "buffered"}}, d(buffers), DMON_GAUGE},
        {"system.memory.available", {}, d(available), DMON_GAUGE},
        {"system.paging.usage", {{"state", "used"}}, d(swap_total - swap_free), DMON_GAUGE},
        {"system.paging.usage", {{"state", "free"}}, d(swap_free), DMON_GAUGE},
    };
}

}  // namespace dmon::plugins::proc_mem
