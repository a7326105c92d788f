// Load for bench/http.sh: CLIENTS threads, each on one keep-alive connection, sending the
// TARGETS in turn for SECONDS; prints requests/s, errors and latency percentiles.
//   dmon_http_load PORT SECONDS CLIENTS TARGET...
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: dmon_http_load PORT SECONDS CLIENTS TARGET...\n");
        return 2;
    }
    const auto port = static_cast<unsigned short>(std::stoi(argv[1]));
    const double seconds = std::stod(argv[2]);
    const int clients = std::stoi(argv[3]);
    const std::vector<std::string> targets(argv + 4, argv + argc);
    std::atomic<bool> stop{false};
    std::atomic<int64_t> errors{0}, bytes{0};
    std::mutex mutex;
    std::vector<double> latencies_ms;
    std::vector<std::thread> threads;
    const auto start = Clock::now();
    for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
            std::vector<double> mine;
            try {
                asio::io_context io;
                beast::tcp_stream stream(io);
                stream.connect({asio::ip::make_address("127.0.0.1"), port});
                beast::flat_buffer buffer;
                for (size_t i = static_cast<size_t>(c); !stop; ++i) {
                    http::request<http::empty_body> req{http::verb::get,
                                                        targets[i % targets.size()], 11};
                    req.set(http::field::host, "127.0.0.1");
                    const auto sent = Clock::now();
                    http::write(stream, req);
                    http::response<http::string_body> res;
                    http::read(stream, buffer, res);
                    mine.push_back(
                        std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
                    bytes += static_cast<int64_t>(res.body().size());
                    if (res.result_int() != 200)
                        ++errors;
                }
            } catch (const std::exception& e) {
                ++errors;
                std::fprintf(stderr, "client %d: %s\n", c, e.what());
            }
            std::lock_guard lock(mutex);
            latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
        });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& thread : threads)
        thread.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::sort(latencies_ms.begin(), latencies_ms.end());
    auto percentile = [&](double p) {
        return latencies_ms.empty()
                   ? 0.0
                   : latencies_ms[std::min(latencies_ms.size() - 1,
                                           static_cast<size_t>(p * latencies_ms.size()))];
    };
    std::printf(
        "requests %zu  per_second %.1f  errors %lld  p50_ms %.1f  p99_ms %.1f  "
        "mean_bytes %.0f\n",
        latencies_ms.size(), latencies_ms.size() / elapsed, static_cast<long long>(errors.load()),
        percentile(0.5), percentile(0.99),
        latencies_ms.empty() ? 0.0 : static_cast<double>(bytes) / latencies_ms.size());
    return errors > 0 ? 1 : 0;
}
