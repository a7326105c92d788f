#pragma once
// The JSON API of `dmonctl serve` (docs/http-api.md): a request target in, a status and a JSON
// body out, read from one store. No sockets here: the server (server.hpp) owns the I/O, and
// the tests call this with exact targets and compare exact bodies.
#include <dmon/store/reader.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace dmon::ctl::web {

struct ApiLimits {
    int64_t max_range_ns = 400LL * 24 * 3600 * 1'000'000'000;  // from..until
    int64_t max_points = 10'000;     // per series: more than any screen has pixels
    int64_t default_points = 1'000;  // when the request does not say
    int64_t max_series = 500;        // in one /points response
    int64_t max_latest_rows = 10'000;
    std::chrono::milliseconds deadline{10'000};  // a query stops after this, with 503
};

struct ApiResponse {
    int status = 200;
    std::string body;  // JSON
};

class Api {
  public:
    explicit Api(ApiLimits limits = {}) : limits_(limits) {}
    // `target` is the request's path and query ("/api/v1/points?metric=..."); `now_ns` the
    // moment relative times ("now-1h") and staleness are measured from.
    ApiResponse handle(std::string_view target, store::Reader& reader, int64_t now_ns) const;

  private:
    ApiLimits limits_;
};

// "%XX" and "+" decoded; nullopt when an escape is malformed.
std::optional<std::string> url_decode(std::string_view text);

}  // namespace dmon::ctl::web
