#include "proc_cpu/cpu_stat.hpp"

#include "proc_common/read_file.hpp"

#include <charconv>

namespace dmon::plugins::proc_cpu {

std::vector<CpuTicks> parse_proc_stat(std::string_view text) {
    std::vector<CpuTicks> result;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string_view::npos)
            end = text.size();
        const std::string_view line = text.substr(start, end - start);
        start = end + 1;
        if (line.substr(0, 3) != "cpu")
            continue;
        const auto fields = split_fields(line);
        if (fields.size() < 5)
            continue;
        CpuTicks cpu;
        cpu.cpu = fields[0] == "cpu" ? std::string("total") : std::string(fields[0].substr(3));
        for (size_t i = 0; i < kStates.size() && i + 1 < fields.size(); ++i) {
            const auto field = fields[i + 1];
            std::from_chars(field.data(), field.data() + field.size(), cpu.ticks[i]);
        }
        result.push_back(std::move(cpu));
    }
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
