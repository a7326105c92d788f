// bench/isolation.sh's measuring program: one collector (bench_series, SERIES samples a round)
// created twice from the same config, once in process and once with `isolate: true`, called
// ROUNDS times each, alternating, so both see the same machine. Prints per-round latency
// (median, p99) and CPU per sample (this process plus, for the isolated one, its worker).
//   usage: dmon_bench_isolation DMON_BINARY PLUGIN_DIR SERIES ROUNDS
#include <dmon/core/config.hpp>
#include <dmon/core/host.hpp>
#include <dmon/core/isolation.hpp>
#include <dmon/core/logging.hpp>
#include <dmon/core/plugin_instance.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <tuple>
#include <unistd.h>
#include <vector>

namespace {

using namespace dmon::core;

double process_cpu_s() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// utime + stime of another process, from /proc/PID/stat (clock ticks).
double other_cpu_s(int pid) {
    char path[64];
    std::snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    std::FILE* file = std::fopen(path, "r");
    if (file == nullptr)
        return 0;
    char text[2048] = {};
    const size_t got = std::fread(text, 1, sizeof(text) - 1, file);
    std::fclose(file);
    const char* after_name = std::strrchr(text, ')');
    if (got == 0 || after_name == nullptr)
        return 0;
    unsigned long long utime = 0, stime = 0;
    // Fields after the name: state(3) ... utime(14) stime(15).
    std::sscanf(after_name + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                &stime);
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct Figures {
    std::vector<double> round_us;
    double cpu_s = 0;
    size_t samples = 0;
};

double percentile(std::vector<double> values, double p) {
    std::sort(values.begin(), values.end());
    return values[std::min(values.size() - 1, static_cast<size_t>(p * (values.size() - 1) + 0.5))];
}

void round(PluginInstance& instance, Figures& figures) {
    dmon_emitter emitter;
    emitter.node = "bench";
    emitter.source = instance.name();
    emitter.collected_at_ns = now_ns();
    std::string error;
    const auto started = std::chrono::steady_clock::now();
    if (instance.collect(emitter, error) != DMON_OK) {
        std::fprintf(stderr, "collect failed: %s\n", error.c_str());
        std::exit(1);
    }
    figures.round_us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started)
            .count());
    for (const auto& batch : emitter.batches)
        figures.samples += batch->size();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fputs("usage: dmon_bench_isolation DMON_BINARY PLUGIN_DIR SERIES ROUNDS\n", stderr);
        return 2;
    }
    set_worker_program(argv[1]);
    set_log_level("warn");
    const std::string series = argv[3];
    const int rounds = std::stoi(argv[4]);
    const std::string text = std::string("node: bench\nplugin_paths: [") + argv[2] +
                             "]\ncollectors:\n"
                             "  - plugin: bench_series\n    name: in_process\n    series: " +
                             series +
                             "\n  - plugin: bench_series\n    name: isolated\n    isolate: true\n"
                             "    series: " +
                             series + "\n";
    const HostConfig config = parse_config(text, "bench.yaml");
    PluginCatalog catalog(config.plugin_paths);
    PluginSetPlan plan = plan_plugins(config, catalog);
    PluginInstance in_process(plan.collectors[0].library, plan.collectors[0].config,
                              std::move(plan.collectors[0].options), "bench");
    PluginInstance isolated(plan.collectors[1].library, plan.collectors[1].config,
                            std::move(plan.collectors[1].options), "bench");
    Figures local, remote;
    for (int i = 0; i < 20; ++i) {  // warm both up: caches, the worker's first allocations
        Figures ignored;
        round(in_process, ignored);
        round(isolated, ignored);
    }
    const int worker = isolated.worker_pid();
    const double worker_before = other_cpu_s(worker);
    for (int i = 0; i < rounds; ++i) {
        double before = process_cpu_s();
        round(in_process, local);
        local.cpu_s += process_cpu_s() - before;
        before = process_cpu_s();
        round(isolated, remote);
        remote.cpu_s += process_cpu_s() - before;
    }
    // The worker's CPU during the measured rounds (in clock ticks of 10 ms: run long enough).
    const double worker_cpu = other_cpu_s(worker) - worker_before;
    std::printf("series=%s rounds=%d samples_per_round=%zu\n", series.c_str(), rounds,
                local.samples / static_cast<size_t>(rounds));
    for (const auto& [name, figures, extra] :
         {std::tuple{"in_process", &local, 0.0}, std::tuple{"isolated", &remote, worker_cpu}}) {
        const double cpu = figures->cpu_s + extra;
        std::printf(
            "%-10s round_median_us=%.1f round_p99_us=%.1f cpu_ns_per_sample=%.1f "
            "host_cpu_ns_per_sample=%.1f\n",
            name, percentile(figures->round_us, 0.5), percentile(figures->round_us, 0.99),
            cpu * 1e9 / static_cast<double>(figures->samples),
            figures->cpu_s * 1e9 / static_cast<double>(figures->samples));
    }
    return 0;
}
