// The HTTP API's request handling (dmonctl serve): any bytes as the request target's path and
// query, against a small store made once. Must answer (200, 4xx, or 503 for a slow query),
// with valid JSON, never crash, never hang.
#include "api.hpp"

#include <dmon/store/store.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace {

constexpr int64_t kT0 = 1732468800000000000;  // 2024-11-24T17:20:00Z
constexpr int64_t kSecond = 1'000'000'000;

std::string g_path;
void remove_store() {
    std::filesystem::remove(g_path);
    std::filesystem::remove(g_path + "-wal");
    std::filesystem::remove(g_path + "-shm");
}

std::string make_store() {
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("dmon-fuzz-api-" + std::to_string(::getpid()) + ".db"))
                                 .string();
    std::filesystem::remove(path);
    dmon::store::SampleWriter writer({path, std::chrono::nanoseconds(0), false});
    std::string names[] = {"system.cpu.utilization", "system.disk.io"};
    std::string hosts[] = {"a", "b,c"}, cpu = "cpu", total = "total", host_key = "host";
    for (int h = 0; h < 2; ++h) {
        for (int m = 0; m < 2; ++m) {
            std::vector<dmon_sample> samples;
            dmon_label labels[2] = {
                {{host_key.data(), host_key.size()}, {hosts[h].data(), hosts[h].size()}},
                {{cpu.data(), cpu.size()}, {total.data(), total.size()}}};
            for (int i = 0; i < 100; ++i)
                samples.push_back({{names[m].data(), names[m].size()},
                                   labels,
                                   2,
                                   i * 1.5,
                                   kT0 + i * kSecond,
                                   static_cast<uint32_t>(m ? DMON_COUNTER : DMON_GAUGE)});
            const dmon_batch batch{sizeof(dmon_batch),  samples.data(), samples.size(),
                                   sizeof(dmon_sample), nullptr,        0};
            writer.write(batch);
        }
    }
    writer.seal();
    g_path = path;
    std::atexit(remove_store);
    return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string path = make_store();
    static dmon::store::SampleReader reader(path);
    static const char* const kEndpoints[] = {"hosts",  "overview", "metrics",
                                             "series", "latest",   "points"};
    if (size == 0)
        return 0;
    // The first byte picks an endpoint (or, past them, leaves the whole input as the path).
    const uint8_t pick = data[0];
    std::string target(reinterpret_cast<const char*>(data + 1), size - 1);
    if (pick < 6 * 40)
        target = std::string("/api/v1/") + kEndpoints[pick % 6] + "?" + target;
    dmon::ctl::web::ApiLimits limits;
    limits.deadline = std::chrono::milliseconds(2000);
    const auto answer = dmon::ctl::web::Api(limits).handle(target, reader, kT0 + 200 * kSecond);
    if (answer.status != 200 && (answer.status < 400 || answer.status > 503))
        std::abort();
    if (!nlohmann::json::accept(answer.body))
        std::abort();  // every body is valid JSON, whatever the bytes asked
    return 0;
}
