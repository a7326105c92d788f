#include "proc_cpu/cpu_stat.hpp"

#include "proc_common/text.hpp"

#include <algorithm>

namespace dmon::plugins::proc_cpu {

std::vector<CpuTicks> parse_proc_stat(std::string_view text) {
    std::vector<CpuTicks> result;
    for_each_line(text, [&](std::string_view line) {
        if (line.substr(0, 3) != "cpu")
            return;
        const auto fields = split_fields(line);
        if (fields.size() < 5)
            return;
        CpuTicks cpu;
        cpu.cpu = fields[0] == "cpu" ? std::string("total") : std::string(fields[0].substr(3));
        // Old kernels have fewer columns: the states they lack stay 0.
        const size_t columns = std::min(kStates.size(), fields.size() - 1);
        if (!parse_u64_fields(fields, 1, std::span(cpu.ticks.data(), columns)))
            return;
        result.push_back(std::move(cpu));
    });
    return result;
}

MetricPoints CpuMetrics::update(const std::vector<CpuTicks>& reading) {
    MetricPoints points;
    constexpr size_t kIdle = 3, kIowait = 4;
    for (const auto& cpu : reading) {
        const bool total = cpu.cpu == "total";
        if (!total && !per_cpu_)
            continue;
        for (size_t i = 0; i < kStates.size(); ++i) {
            points.push_back({"system.cpu.time",
                              {{"cpu", cpu.cpu}, {"state", kStates[i]}},
                              static_cast<double>(cpu.ticks[i]) / ticks_per_second_,
                              DMON_COUNTER});
        }
        auto previous = previous_.find(cpu.cpu);
        if (previous != previous_.end()) {
            uint64_t busy = 0, idle = 0;
            bool went_backwards = false;
            for (size_t i = 0; i < kStates.size(); ++i) {
                if (cpu.ticks[i] < previous->second.ticks[i])
                    went_backwards = true;
                const uint64_t delta = cpu.ticks[i] - previous->second.ticks[i];
                (i == kIdle || i == kIowait ? idle : busy) += delta;
            }
            if (!went_backwards && busy + idle > 0) {
                points.push_back({"system.cpu.utilization",
                                  {{"cpu", cpu.cpu}},
                                  static_cast<double>(busy) / static_cast<double>(busy + idle),
                                  DMON_GAUGE});
            }
        }
        previous_[cpu.cpu] = cpu;
    }
    return points;
}

}  // namespace dmon::plugins::proc_cpu
