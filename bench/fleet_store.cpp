// A store of a made-up fleet, shaped like real agents (docs/metrics.md): CPU total and per CPU,
// memory by state, disks and interfaces as counters, and the host's own dmon.* and process.*
// health. For the page's browser test and bench/http.sh.
//
//   dmon_fleet_store --db FILE [--hosts 3] [--prefix web-] [--duration 15m] [--interval 1s]
//                    [--end-ago 0s] [--cpus 2] [--follow yes]
//
// Each host reports every --interval over --duration, its newest samples --end-ago before now
// (a host that stopped reporting: --end-ago 10m). Values are deterministic (seeded by the host
// name), so a run gives the same store, but for the time it ends at. --follow yes then keeps
// writing a round each interval, as live agents do, until SIGINT or SIGTERM.
#include <dmon/store/store.hpp>

#include <dmon/core/duration.hpp>

#include <chrono>
#include <csignal>
#include <thread>
#include <cmath>
#include <cstdio>
#include <deque>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace {

volatile std::sig_atomic_t g_stop = 0;

struct Label {
    std::string key, value;
};
struct Series {
    std::string name;
    std::vector<Label> labels;  // host first
    dmon_sample_type type;
    double value = 0;
    double step = 0;  // a counter's mean increase per second; a gauge's scale
};

int64_t parse_ns(const char* option, const std::string& text) {
    auto parsed = dmon::core::parse_duration(text);
    if (!parsed) {
        std::cerr << option << " needs a duration such as 10s, 15m or 24h; got '" << text << "'\n";
        std::exit(2);
    }
    return parsed->count();
}

}  // namespace

int main(int argc, char** argv) {
    std::string db, prefix = "web-";
    int hosts = 3, cpus = 2;
    int64_t duration = 15LL * 60 * 1'000'000'000, interval = 1'000'000'000, end_ago = 0;
    bool follow = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string option = argv[i], value = argv[i + 1];
        if (option == "--db")
            db = value;
        else if (option == "--hosts")
            hosts = std::stoi(value);
        else if (option == "--prefix")
            prefix = value;
        else if (option == "--cpus")
            cpus = std::stoi(value);
        else if (option == "--duration")
            duration = parse_ns("--duration", value);
        else if (option == "--interval")
            interval = parse_ns("--interval", value);
        else if (option == "--end-ago")
            end_ago = parse_ns("--end-ago", value);
        else if (option == "--follow")
            follow = value == "yes";
        else {
            std::cerr << "unknown option " << option << "\n";
            return 2;
        }
    }
    if (db.empty() || hosts < 1 || cpus < 1 || interval <= 0) {
        std::cerr << "usage: dmon_fleet_store --db FILE [--hosts N] [--prefix P] [--duration D] "
                     "[--interval D] [--end-ago D] [--cpus N]\n";
        return 2;
    }
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const int64_t end = (now - end_ago) / interval * interval;
    const int64_t rounds = duration / interval;

    std::vector<std::vector<Series>> fleet;
    std::vector<std::mt19937_64> random;
    for (int h = 0; h < hosts; ++h) {
        const std::string host = prefix + std::to_string(h + 1);
        random.emplace_back(std::hash<std::string>{}(host));
        std::vector<Series> series;
        auto add = [&](std::string name, std::vector<Label> labels, dmon_sample_type type,
                       double value, double step) {
            labels.insert(labels.begin(), {"host", host});
            series.push_back({std::move(name), std::move(labels), type, value, step});
        };
        add("system.cpu.utilization", {{"cpu", "total"}}, DMON_GAUGE, 0.2 + 0.05 * (h % 7), 0.05);
        for (int c = 0; c < cpus; ++c)
            add("system.cpu.utilization", {{"cpu", std::to_string(c)}}, DMON_GAUGE, 0.2, 0.08);
        const double limit = 8.0 * (1 << (h % 3)) * 1024 * 1024 * 1024;
        add("system.memory.limit", {}, DMON_GAUGE, limit, 0);
        for (const char* state : {"used", "free", "cached", "buffered"})
            add("system.memory.usage", {{"state", state}}, DMON_GAUGE, limit / 4, limit / 400);
        for (const char* device : {"sda", "sdb"})
            for (const char* direction : {"read", "write"}) {
                add("system.disk.io", {{"device", device}, {"direction", direction}}, DMON_COUNTER,
                    1e9, 2e6);
                add("system.disk.operations", {{"device", device}, {"direction", direction}},
                    DMON_COUNTER, 1e5, 150);
            }
        for (const char* device : {"eth0", "lo"})
            for (const char* direction : {"receive", "transmit"}) {
                add("system.network.io", {{"device", device}, {"direction", direction}},
                    DMON_COUNTER, 1e9, 5e5);
                add("system.network.errors", {{"device", device}, {"direction", direction}},
                    DMON_COUNTER, 0, 0.01);
            }
        add("dmon.sink.dropped", {{"instance", "amqp_publish"}, {"reason", "queue_full"}},
            DMON_COUNTER, 0, 0);
        add("dmon.sink.queued", {{"instance", "amqp_publish"}, {"unit", "samples"}}, DMON_GAUGE, 0,
            50);
        add("process.cpu.time", {{"state", "user"}}, DMON_COUNTER, 10, 0.004);
        add("process.cpu.time", {{"state", "system"}}, DMON_COUNTER, 5, 0.002);
        add("process.memory.usage", {}, DMON_GAUGE, 12e6, 2e5);
        fleet.push_back(std::move(series));
    }

    dmon::store::SampleWriter writer({db, std::chrono::nanoseconds(0), false});
    const double seconds = static_cast<double>(interval) / 1e9;
    int64_t written = 0;
    std::deque<std::string> ids;
    std::vector<std::vector<dmon_label>> labels;
    std::vector<dmon_sample> samples;
    std::normal_distribution<double> noise(0, 1);
    auto progress_at = std::chrono::steady_clock::now();
    auto write_round = [&](int64_t ts) {
        samples.clear();
        labels.clear();
        labels.reserve(hosts * fleet[0].size());
        for (int h = 0; h < hosts; ++h) {
            for (auto& s : fleet[h]) {
                if (s.type == DMON_COUNTER) {
                    s.value += std::max(0.0, s.step * seconds * (1 + 0.5 * noise(random[h])));
                } else if (s.name == "system.cpu.utilization") {
                    s.value = std::clamp(s.value + s.step * 0.3 * noise(random[h]), 0.01, 0.99);
                } else if (s.step > 0) {
                    s.value = std::max(0.0, s.value + s.step * noise(random[h]));
                }
                labels.emplace_back();
                for (const auto& l : s.labels)
                    labels.back().push_back(
                        {{l.key.data(), l.key.size()}, {l.value.data(), l.value.size()}});
                samples.push_back({{s.name.data(), s.name.size()},
                                   labels.back().data(),
                                   labels.back().size(),
                                   std::round(s.value * 1000) / 1000,
                                   ts,
                                   static_cast<uint32_t>(s.type)});
            }
        }
        const dmon_batch batch{sizeof(dmon_batch),  samples.data(), samples.size(),
                               sizeof(dmon_sample), nullptr,        0};
        written += static_cast<int64_t>(writer.write(batch).stored);
        if (writer.seal_due(ts))
            writer.seal();
    };
    for (int64_t r = 0; r < rounds; ++r) {
        write_round(end - (rounds - 1 - r) * interval);
        if (std::chrono::steady_clock::now() - progress_at > std::chrono::seconds(2)) {
            progress_at = std::chrono::steady_clock::now();
            std::fprintf(stderr, "[fleet] %s: %lld of %lld rounds, %lld samples\n", db.c_str(),
                         static_cast<long long>(r + 1), static_cast<long long>(rounds),
                         static_cast<long long>(written));
        }
    }
    writer.seal();
    std::printf("%s: %d hosts, %lld rounds, %lld samples\n", db.c_str(), hosts,
                static_cast<long long>(rounds), static_cast<long long>(written));
    std::fflush(stdout);
    // --follow: go on as live agents would, one round each interval at the wall clock's time,
    // until SIGINT or SIGTERM (a page under test then sees hosts that report, not a history
    // that ended while a slow build made it).
    if (follow) {
        std::signal(SIGINT, [](int) { g_stop = 1; });
        std::signal(SIGTERM, [](int) { g_stop = 1; });
        while (!g_stop) {
            const int64_t wall = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
            const int64_t next = (wall / interval + 1) * interval;
            while (!g_stop && std::chrono::system_clock::now().time_since_epoch() <
                                  std::chrono::nanoseconds(next))
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            if (!g_stop)
                write_round(next);
        }
        writer.seal();
    }
    return 0;
}
