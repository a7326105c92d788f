#pragma once
// `dmonctl serve`: the page and the JSON API over HTTP(S), read-only, beside a controller that
// writes the same store. Boost.Beast, a few threads, every connection bounded (header and body
// size, idle time, how many at once).
#include "api.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace dmon::ctl::web {

struct ServeOptions {
    std::string db;
    std::string listen = "127.0.0.1:8080";  // HOST:PORT, [V6]:PORT; port 0 picks a free one
    std::string token_file;                 // required unless the address is loopback
    std::string tls_cert, tls_key;          // PEM files: HTTPS
    int threads = 2;
    int max_connections = 256;
    std::chrono::seconds idle_timeout{30};
    ApiLimits limits;
};

// Checks the options (a non-loopback address without a token is refused, without TLS warned
// about on `log`), listens, calls `ready` with the URL once accepting, and serves until SIGINT
// or SIGTERM. Throws std::invalid_argument for bad options, std::runtime_error when it cannot
// listen.
void serve(const ServeOptions& options, const std::function<void(const std::string&)>& log,
           const std::function<void(const std::string& url)>& ready);

// The address part of a --listen value is loopback (127.0.0.0/8, ::1, localhost).
bool is_loopback_listen(const std::string& listen);

}  // namespace dmon::ctl::web
