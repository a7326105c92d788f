#pragma once
// An HTTP(S) server for what dmon exposes to other programs: `dmonctl serve` (the page and the
// JSON API) and the `prometheus` sink (/metrics). Boost.Beast, asynchronous, a few threads; it
// owns the connection policy so that both expose the same bounds: request header and body size,
// idle time, how many connections at once, TLS 1.2 or newer. What a request means is the
// handler's business.
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace dmon::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
// Called on a server thread, possibly on several at once.
using Handler = std::function<Response(const Request&)>;
using LogFn = std::function<void(const std::string&)>;

struct Endpoint {
    std::string host;  // an IP address; "localhost" becomes 127.0.0.1
    unsigned short port = 0;
};
// "HOST:PORT" or "[V6]:PORT"; port 0 picks a free one. Throws std::invalid_argument naming
// `what` (the option) when malformed.
Endpoint parse_listen(const std::string& listen, const std::string& what = "--listen");
// The address part of a listen value is loopback (127.0.0.0/8, ::1, localhost).
bool is_loopback_listen(const std::string& listen);
// Whether a socket already listens on this address (bound without SO_REUSEPORT: a server that
// shares its port with reuse_port checks first that nobody else holds it).
bool listen_address_taken(const std::string& listen);

struct ServerSettings {
    std::string listen = "127.0.0.1:8080";
    std::string listen_option = "--listen";  // how errors name the address option
    std::string tls_cert, tls_key;           // PEM files: HTTPS; both or neither
    std::string name = "dmon";               // prefix of log lines and the Server header
    int threads = 2;
    int max_connections = 256;
    std::chrono::seconds idle_timeout{30};
    size_t header_limit = 8 * 1024;
    size_t body_limit = 4 * 1024;
    // SO_REUSEPORT: another server may bind the same address while this one runs (a plugin
    // instance replacing another during a hot reload).
    bool reuse_port = false;
};

// Binds at construction (throws std::invalid_argument for bad settings, std::runtime_error when
// it cannot listen), serves once run() or start() is called, stops on stop() or destruction.
class Server {
  public:
    Server(ServerSettings settings, Handler handler, LogFn log);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Serves on this thread and threads-1 more until stop() (or SIGINT/SIGTERM when
    // stop_on_signals).
    void run(bool stop_on_signals = false);
    // Serves on `threads` threads of its own; returns at once.
    void start();
    void stop();

    std::string url() const;  // http(s)://HOST:PORT/ with the bound port
    unsigned short port() const;
    bool tls() const;
    bool loopback() const;
    int64_t requests() const;

  private:
    struct State;
    std::unique_ptr<State> state_;
};

// Lines to the log, at most 10 a second: a hostile client cannot flood it.
class RateLimitedLog {
  public:
    explicit RateLimitedLog(LogFn sink) : sink_(std::move(sink)) {}
    void operator()(const std::string& line);

  private:
    LogFn sink_;
    std::mutex mutex_;
    std::chrono::steady_clock::time_point window_{};
    int lines_ = 0;
    int64_t suppressed_ = 0;
};

// Compares secrets in time independent of where they differ.
bool same_secret(std::string_view a, std::string_view b);

// The first line of a token file (secret_file rules), 16 characters or more, without spaces,
// quotes, commas or semicolons (it travels in headers and cookies). Throws
// std::invalid_argument naming `what`.
std::string read_token_file(const std::string& path, const std::string& what);

// The token of an "Authorization: Bearer TOKEN" header, or the user and password of a
// "Basic ..." one; empty when the header is not of that kind.
std::string_view bearer_token(std::string_view authorization);
bool basic_credentials(std::string_view authorization, std::string& user, std::string& password);

}  // namespace dmon::http
