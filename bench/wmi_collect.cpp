// WMI overhead (Windows; run under Wine by bench/wmi_overhead.sh): the time one collect() of
// wmi_mem takes, with its one WMI connection per instance (median of 100 rounds), against a
// baseline measured in the same run: a fresh WMI connection for every round, as a naive
// collector would do. Then the process's working set with all four WMI plugins loaded.
#include <dmon/core/host.hpp>
#include <dmon/core/plugin_instance.hpp>

#include "wmi_common/wmi_session.hpp"

#include <psapi.h>
#include <windows.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

namespace {
using Clock = std::chrono::steady_clock;

double median_us(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

template <typename Fn>
std::vector<double> time_rounds(int rounds, Fn&& fn) {
    std::vector<double> us;
    for (int i = 0; i < rounds; ++i) {
        const auto start = Clock::now();
        fn();
        us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
    return us;
}
}  // namespace

int main() {
    using namespace dmon::core;
    try {
        PluginCatalog catalog({PluginCatalog::default_folder()});
        const auto config = parse_config(
            "collectors:\n  - plugin: wmi_mem\n  - plugin: wmi_cpu\n  - plugin: wmi_disk\n  - "
            "plugin: wmi_net\n",
            "bench.yaml");
        auto plan = plan_plugins(config, catalog);
        std::vector<std::unique_ptr<PluginInstance>> instances;
        for (auto& planned : plan.collectors) {
            instances.push_back(std::make_unique<PluginInstance>(planned.library, planned.config,
                                                                 planned.options, "bench"));
        }
        PluginInstance& memory = *instances.front();
        size_t samples = 0;
        const auto kept = time_rounds(100, [&] {
            dmon_emitter emitter;
            std::string error;
            if (memory.collect(emitter, error) != DMON_OK)
                throw std::runtime_error(error);
            samples = emitter.batches.empty() ? 0 : emitter.batches.front()->size();
        });
        const auto fresh = time_rounds(100, [&] {
            dmon::plugins::wmi::WmiSession session;
            session.query("Win32_OperatingSystem",
                          {"TotalVisibleMemorySize", "FreePhysicalMemory", "TotalVirtualMemorySize",
                           "FreeVirtualMemory"},
                          std::chrono::seconds(5));
        });
        PROCESS_MEMORY_COUNTERS counters{};
        GetProcessMemoryInfo(GetCurrentProcess(), &counters, sizeof(counters));
        std::printf(
            "wmi_mem collect(), one connection per instance: median %.0f us (%zu samples)\n",
            median_us(kept), samples);
        std::printf("baseline, a new WMI connection every round:     median %.0f us\n",
                    median_us(fresh));
        std::printf("ratio kept / fresh: %.2f\n", median_us(kept) / median_us(fresh));
        std::printf("working set with the 4 WMI plugins loaded: %.1f MB (peak %.1f MB)\n",
                    counters.WorkingSetSize / 1048576.0, counters.PeakWorkingSetSize / 1048576.0);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
