#include "server.hpp"

#include "assets.hpp"

#include <dmon/secret_file.hpp>
#include <dmon/str.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>

#include <atomic>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace dmon::ctl::web {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kHeaderLimit = 8 * 1024;
constexpr size_t kBodyLimit = 4 * 1024;  // the login form; nothing else has a body
constexpr const char* kCookie = "dmon_token";

struct Endpoint {
    std::string host;
    unsigned short port = 0;
};

Endpoint parse_listen(const std::string& listen) {
    Endpoint endpoint;
    size_t colon = listen.rfind(':');
    if (colon == std::string::npos)
        throw std::invalid_argument("--listen needs HOST:PORT; got '" + listen + "'");
    endpoint.host = listen.substr(0, colon);
    if (endpoint.host.size() >= 2 && endpoint.host.front() == '[' && endpoint.host.back() == ']')
        endpoint.host = endpoint.host.substr(1, endpoint.host.size() - 2);
    const std::string port = listen.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535)
        throw std::invalid_argument("--listen needs a port 0..65535; got '" + listen + "'");
    endpoint.port = static_cast<unsigned short>(std::stoi(port));
    if (endpoint.host == "localhost")
        endpoint.host = "127.0.0.1";
    return endpoint;
}

std::string error_body(const std::string& message) {
    return nlohmann::ordered_json{{"error", message}}.dump();
}

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Lines to stderr, at most 10 a second: a hostile client cannot flood the log.
class RateLimitedLog {
  public:
    explicit RateLimitedLog(std::function<void(const std::string&)> sink)
        : sink_(std::move(sink)) {}
    void operator()(const std::string& line) {
        std::lock_guard lock(mutex_);
        const auto now = std::chrono::steady_clock::now();
        if (now - window_ > std::chrono::seconds(1)) {
            if (suppressed_ > 0)
                sink_("(" + std::to_string(suppressed_) + " log lines suppressed)");
            window_ = now;
            lines_ = 0;
            suppressed_ = 0;
        }
        if (++lines_ > 10) {
            ++suppressed_;
            return;
        }
        sink_(line);
    }

  private:
    std::function<void(const std::string&)> sink_;
    std::mutex mutex_;
    std::chrono::steady_clock::time_point window_{};
    int lines_ = 0;
    int64_t suppressed_ = 0;
};

std::string read_token(const std::string& path) {
    if (std::string problem = secret_file_problem(path, "--token-file"); !problem.empty())
        throw std::invalid_argument(problem);
    std::ifstream in(path);
    std::string token;
    std::getline(in, token);
    while (!token.empty() && (token.back() == '\r' || token.back() == ' '))
        token.pop_back();
    if (token.size() < 16)
        throw std::invalid_argument("--token-file " + path +
                                    ": the token must be 16 characters or more (for example: "
                                    "openssl rand -hex 32)");
    if (token.find_first_of(";, \t\"") != std::string::npos)
        throw std::invalid_argument("--token-file " + path +
                                    ": the token may not hold spaces, quotes, commas or ;");
    return token;
}

// Everything the sessions share: read-only after start.
class Handler {
  public:
    Handler(const ServeOptions& options, std::optional<std::string> token, bool tls, Endpoint bound,
            RateLimitedLog& log)
        : options_(options), token_(std::move(token)), tls_(tls), log_(log), api_(options.limits) {
        // Without a token the server is loopback only, and a page of another site could still
        // reach it through DNS rebinding (evil.example resolving to 127.0.0.1): only requests
        // that name a loopback host are answered.
        const std::string port = std::to_string(bound.port);
        for (const std::string host : {"127.0.0.1", "localhost", "[::1]"}) {
            allowed_hosts_.push_back(host);
            allowed_hosts_.push_back(host + ":" + port);
        }
        if (bound.host != "127.0.0.1" && bound.host != "::1") {
            allowed_hosts_.push_back(bound.host);
            allowed_hosts_.push_back(bound.host + ":" + port);
        }
    }

    http::response<http::string_body> handle(const http::request<http::string_body>& request) {
        requests_.fetch_add(1, std::memory_order_relaxed);
        auto response = route(request);
        response.version(request.version());
        response.keep_alive(request.keep_alive());
        response.set(http::field::server, "dmonctl");
        // Nothing here is meant to be framed, sniffed, or read by another origin: no
        // Access-Control-Allow-Origin at all, so browsers keep other sites out.
        response.set("X-Content-Type-Options", "nosniff");
        response.set("X-Frame-Options", "DENY");
        response.set("Referrer-Policy", "no-referrer");
        response.set("Content-Security-Policy",
                     "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                     "frame-ancestors 'none'; form-action 'self'");
        if (tls_)
            response.set(http::field::strict_transport_security, "max-age=31536000");
        if (request.method() == http::verb::head) {
            response.content_length(response.body().size());
            response.body().clear();
        } else {
            response.prepare_payload();
        }
        if (response.result_int() >= 500)
            log_("dmonctl serve: " + std::to_string(response.result_int()) + " for " +
                 escape_text(std::string_view(request.target().data(), request.target().size()),
                             200));
        return response;
    }

    int64_t requests() const { return requests_.load(); }

  private:
    using Response = http::response<http::string_body>;

    static Response json_response(int status, std::string body) {
        Response response{static_cast<http::status>(status), 11};
        response.set(http::field::content_type, "application/json");
        response.set(http::field::cache_control, "no-store");
        response.body() = std::move(body);
        return response;
    }
    static Response error(int status, const std::string& message) {
        return json_response(status, error_body(message));
    }

    bool host_allowed(const http::request<http::string_body>& request) const {
        if (token_)
            return true;
        const auto field = request[http::field::host];
        const std::string_view host(field.data(), field.size());
        for (const auto& allowed : allowed_hosts_)
            if (host == allowed)
                return true;
        return false;
    }

    static bool same(std::string_view a, std::string_view b) {
        return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
    }

    bool authorized(const http::request<http::string_body>& request) const {
        if (!token_)
            return true;
        const auto header = request[http::field::authorization];
        const std::string_view authorization(header.data(), header.size());
        if (authorization.rfind("Bearer ", 0) == 0 && same(authorization.substr(7), *token_))
            return true;
        const auto cookie_header = request[http::field::cookie];
        std::string_view cookies(cookie_header.data(), cookie_header.size());
        while (!cookies.empty()) {
            const size_t semicolon = cookies.find(';');
            std::string_view cookie = cookies.substr(0, semicolon);
            cookies = semicolon == std::string_view::npos ? "" : cookies.substr(semicolon + 1);
            while (!cookie.empty() && cookie.front() == ' ')
                cookie.remove_prefix(1);
            const std::string prefix = std::string(kCookie) + "=";
            if (cookie.rfind(prefix, 0) == 0 && same(cookie.substr(prefix.size()), *token_))
                return true;
        }
        return false;
    }

    // At most kLoginFailures wrong logins a minute, from anyone: guessing is capped at that
    // rate without making a server thread sleep. (Bearer tokens and cookies already given
    // still work meanwhile; only the form waits.)
    static constexpr size_t kLoginFailures = 10;
    bool logins_throttled(std::chrono::steady_clock::time_point now) {
        std::lock_guard lock(login_mutex_);
        while (!login_failures_.empty() && now - login_failures_.front() > std::chrono::minutes(1))
            login_failures_.pop_front();
        return login_failures_.size() >= kLoginFailures;
    }

    Response login(const http::request<http::string_body>& request) {
        if (!token_)
            return redirect("/");
        const auto now = std::chrono::steady_clock::now();
        if (logins_throttled(now)) {
            Response response =
                error(429, "too many wrong logins in the last minute; try again later");
            response.set(http::field::retry_after, "60");
            return response;
        }
        std::string_view body = request.body();
        std::optional<std::string> given;
        while (!body.empty()) {
            const size_t amp = body.find('&');
            const std::string_view pair = body.substr(0, amp);
            body = amp == std::string_view::npos ? "" : body.substr(amp + 1);
            if (pair.rfind("token=", 0) == 0)
                given = url_decode(pair.substr(6));
        }
        if (!given || !same(*given, *token_)) {
            {
                std::lock_guard lock(login_mutex_);
                login_failures_.push_back(now);
            }
            log_("dmonctl serve: a login with a wrong token");
            Response response = asset_response("/login.html");
            response.result(http::status::unauthorized);
            return response;
        }
        Response response = redirect("/");
        response.set(http::field::set_cookie, std::string(kCookie) + "=" + *token_ +
                                                  "; Path=/; HttpOnly; SameSite=Strict" +
                                                  (tls_ ? "; Secure" : ""));
        return response;
    }

    static Response redirect(const std::string& location) {
        Response response{http::status::see_other, 11};
        response.set(http::field::location, location);
        response.set(http::field::cache_control, "no-store");
        return response;
    }

    Response asset_response(std::string_view path) {
        const Asset* asset = find_asset(path);
        if (asset == nullptr)
            return error(404, "no such page");
        Response response{http::status::ok, 11};
        response.set(http::field::content_type, asset->content_type);
        response.set(http::field::cache_control, "no-cache");
        response.body().assign(asset->data, asset->size);
        return response;
    }

    Response route(const http::request<http::string_body>& request) {
        if (!host_allowed(request))
            return error(421,
                         "this server answers requests for 127.0.0.1, localhost or [::1] only");
        const std::string_view target(request.target().data(), request.target().size());
        const std::string_view path = target.substr(0, target.find('?'));
        const bool read =
            request.method() == http::verb::get || request.method() == http::verb::head;
        if (path == "/login") {
            if (request.method() == http::verb::post)
                return login(request);
            if (read)
                return asset_response("/login.html");
            return error(405, "use GET or POST");
        }
        if (!read)
            return error(405, "only GET and HEAD are served");
        if (path.rfind("/api/", 0) == 0) {
            if (!authorized(request))
                return error(401,
                             "a token is needed: Authorization: Bearer TOKEN, or log in at /login");
            store::SampleReader* reader = nullptr;
            try {
                reader = &reader_for_thread();
            } catch (const std::exception&) {
                return error(503, "the store cannot be opened yet");
            }
            const ApiResponse answer = answer_for(target, *reader);
            if (answer.status == 500)
                reset_reader();  // a damaged or replaced file: open it again next time
            return json_response(answer.status, answer.body);
        }
        // The page itself holds no data: it is served to anyone who may connect, and asks
        // for a login when the API says 401.
        return asset_response(path == "/" ? "/index.html" : path);
    }

    // Every open page asks for the overview at the hosts' interval, and it reads every host:
    // the same question within a second gets the same answer. Other endpoints are asked with
    // ranges that differ from page to page and are answered fresh.
    ApiResponse answer_for(std::string_view target, store::SampleReader& reader) {
        const std::string_view path = target.substr(0, target.find('?'));
        const bool shared = path == "/api/v1/overview" || path == "/api/v1/hosts";
        const auto now = std::chrono::steady_clock::now();
        if (shared) {
            std::lock_guard lock(cache_mutex_);
            if (auto it = cache_.find(std::string(target));
                it != cache_.end() && now - it->second.first < std::chrono::seconds(1))
                return it->second.second;
        }
        ApiResponse answer = api_.handle(target, reader, now_ns());
        if (shared && answer.status == 200) {
            std::lock_guard lock(cache_mutex_);
            if (cache_.size() >= 64)
                cache_.clear();  // bounded: a client varying the query cannot grow it
            cache_[std::string(target)] = {now, answer};
        }
        return answer;
    }

    // One SQLite connection per server thread, opened on first use (the file may not exist
    // yet when the server starts beside a new controller).
    store::SampleReader& reader_for_thread() {
        thread_local std::unique_ptr<store::SampleReader> reader;
        thread_local const Handler* owner = nullptr;
        if (!reader || owner != this) {
            reader = std::make_unique<store::SampleReader>(options_.db);
            owner = this;
        }
        current_ = &reader;
        return *reader;
    }
    void reset_reader() {
        if (current_ != nullptr)
            current_->reset();
    }

    const ServeOptions& options_;
    std::optional<std::string> token_;
    bool tls_;
    RateLimitedLog& log_;
    Api api_;
    std::vector<std::string> allowed_hosts_;
    std::atomic<int64_t> requests_{0};
    std::mutex cache_mutex_;
    std::mutex login_mutex_;
    std::deque<std::chrono::steady_clock::time_point> login_failures_;
    std::map<std::string, std::pair<std::chrono::steady_clock::time_point, ApiResponse>> cache_;
    static thread_local std::unique_ptr<store::SampleReader>* current_;
};

thread_local std::unique_ptr<store::SampleReader>* Handler::current_ = nullptr;

// Counts open connections; a slot is released when its session ends.
class ConnectionSlot {
  public:
    explicit ConnectionSlot(std::atomic<int>& open) : open_(open) { open_.fetch_add(1); }
    ~ConnectionSlot() { open_.fetch_sub(1); }
    ConnectionSlot(const ConnectionSlot&) = delete;
    ConnectionSlot& operator=(const ConnectionSlot&) = delete;

  private:
    std::atomic<int>& open_;
};

template <bool Tls>
class Session : public std::enable_shared_from_this<Session<Tls>> {
    using Stream = std::conditional_t<Tls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

  public:
    Session(tcp::socket&& socket, ssl::context* context, Handler& handler, std::atomic<int>& open,
            std::chrono::seconds timeout)
        : stream_(make_stream(std::move(socket), context)),
          handler_(handler),
          slot_(open),
          timeout_(timeout) {}

    void run() {
        asio::dispatch(stream_.get_executor(),
                       beast::bind_front_handler(&Session::start, this->shared_from_this()));
    }

  private:
    static Stream make_stream(tcp::socket&& socket, ssl::context* context) {
        if constexpr (Tls)
            return Stream(std::move(socket), *context);
        else
            return Stream(std::move(socket));
    }

    void start() {
        if constexpr (Tls) {
            beast::get_lowest_layer(stream_).expires_after(timeout_);
            stream_.async_handshake(
                ssl::stream_base::server,
                beast::bind_front_handler(&Session::on_handshake, this->shared_from_this()));
        } else {
            read();
        }
    }
    void on_handshake(beast::error_code ec) {
        if (!ec)
            read();
    }

    void read() {
        parser_.emplace();
        parser_->header_limit(kHeaderLimit);
        parser_->body_limit(kBodyLimit);
        beast::get_lowest_layer(stream_).expires_after(timeout_);
        http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&Session::on_read, this->shared_from_this()));
    }

    void on_read(beast::error_code ec, size_t) {
        if (ec == http::error::header_limit || ec == http::error::body_limit) {
            // Answer once, then close: the rest of the request is not read.
            auto response = std::make_shared<http::response<http::string_body>>(
                ec == http::error::header_limit ? http::status::request_header_fields_too_large
                                                : http::status::payload_too_large,
                11);
            response->set(http::field::content_type, "application/json");
            response->body() = error_body(ec == http::error::header_limit
                                              ? "the request's header is larger than 8 KiB"
                                              : "the request's body is larger than 4 KiB");
            response->keep_alive(false);
            response->prepare_payload();
            write(std::move(response));
            return;
        }
        if (ec)
            return close();  // end of stream, a timeout, a malformed request: nothing to say
        write(std::make_shared<http::response<http::string_body>>(handler_.handle(parser_->get())));
    }

    void write(std::shared_ptr<http::response<http::string_body>> response) {
        response_ = std::move(response);
        beast::get_lowest_layer(stream_).expires_after(timeout_);
        http::async_write(stream_, *response_,
                          beast::bind_front_handler(&Session::on_write, this->shared_from_this(),
                                                    response_->keep_alive()));
    }

    void on_write(bool keep_alive, beast::error_code ec, size_t) {
        if (ec)
            return;
        response_.reset();
        if (!keep_alive)
            return close();
        read();
    }

    void close() {
        beast::error_code ec;
        if constexpr (Tls) {
            beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
            stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {});
        } else {
            stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        }
    }

    Stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::shared_ptr<http::response<http::string_body>> response_;
    Handler& handler_;
    ConnectionSlot slot_;
    std::chrono::seconds timeout_;
};

class Listener : public std::enable_shared_from_this<Listener> {
  public:
    Listener(asio::io_context& io, tcp::acceptor& acceptor, ssl::context* context, Handler& handler,
             const ServeOptions& options, RateLimitedLog& log, std::atomic<int>& open)
        : io_(io),
          acceptor_(acceptor),
          context_(context),
          handler_(handler),
          options_(options),
          log_(log),
          open_(open) {}

    void accept() {
        acceptor_.async_accept(asio::make_strand(io_),
                               beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
    }

  private:
    void on_accept(beast::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted)
            return;
        if (!ec) {
            if (open_.load() >= options_.max_connections) {
                // Full: closed at once rather than queued; a client retries.
                ++refused_;
                log_("dmonctl serve: " + std::to_string(options_.max_connections) +
                     " connections open; one refused (" + std::to_string(refused_) + " so far)");
                beast::error_code ignored;
                socket.close(ignored);
            } else if (context_ != nullptr) {
                std::make_shared<Session<true>>(std::move(socket), context_, handler_, open_,
                                                options_.idle_timeout)
                    ->run();
            } else {
                std::make_shared<Session<false>>(std::move(socket), nullptr, handler_, open_,
                                                 options_.idle_timeout)
                    ->run();
            }
        }
        accept();
    }

    asio::io_context& io_;
    tcp::acceptor& acceptor_;
    ssl::context* context_;
    Handler& handler_;
    const ServeOptions& options_;
    RateLimitedLog& log_;
    std::atomic<int>& open_;
    int64_t refused_ = 0;
};

}  // namespace

bool is_loopback_listen(const std::string& listen) {
    const Endpoint endpoint = parse_listen(listen);
    beast::error_code ec;
    const auto address = asio::ip::make_address(endpoint.host, ec);
    return !ec && address.is_loopback();
}

void serve(const ServeOptions& options, const std::function<void(const std::string&)>& log_sink,
           const std::function<void(const std::string& url)>& ready) {
    RateLimitedLog log(log_sink);
    const Endpoint endpoint = parse_listen(options.listen);
    beast::error_code ec;
    const auto address = asio::ip::make_address(endpoint.host, ec);
    if (ec)
        throw std::invalid_argument("--listen needs an IP address (or localhost); got '" +
                                    endpoint.host + "'");
    const bool tls = !options.tls_cert.empty() || !options.tls_key.empty();
    if (tls && (options.tls_cert.empty() || options.tls_key.empty()))
        throw std::invalid_argument("HTTPS needs both --tls-cert and --tls-key");
    std::optional<std::string> token;
    if (!options.token_file.empty())
        token = read_token(options.token_file);
    if (!address.is_loopback() && !token)
        throw std::invalid_argument(
            "--listen " + options.listen +
            " is reachable from other machines: it needs --token-file (anyone who reaches it "
            "could read every metric)");
    if (!address.is_loopback() && !tls)
        log("dmonctl serve: warning: serving " + options.listen +
            " without TLS: the token and the metrics cross the network in clear text "
            "(--tls-cert/--tls-key)");

    std::unique_ptr<ssl::context> context;
    if (tls) {
        context = std::make_unique<ssl::context>(ssl::context::tls_server);
        context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                             ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                             ssl::context::no_tlsv1_1);
        try {
            context->use_certificate_chain_file(options.tls_cert);
            context->use_private_key_file(options.tls_key, ssl::context::pem);
        } catch (const std::exception& e) {
            throw std::invalid_argument("the TLS certificate or key cannot be used (" +
                                        options.tls_cert + ", " + options.tls_key +
                                        "): " + e.what());
        }
    }

    // Declared before the io_context: sessions still queued when it is destroyed release
    // their slot into it.
    std::atomic<int> open_connections{0};
    asio::io_context io(options.threads);
    tcp::acceptor acceptor(io);
    const tcp::endpoint bind_to(address, endpoint.port);
    acceptor.open(bind_to.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(bind_to, ec);
    if (ec)
        throw std::runtime_error("cannot listen on " + options.listen + ": " + ec.message());
    acceptor.listen(asio::socket_base::max_listen_connections);
    const unsigned short port = acceptor.local_endpoint().port();

    Handler handler(options, token, tls, {endpoint.host, port}, log);
    auto listener = std::make_shared<Listener>(io, acceptor, context.get(), handler, options, log,
                                               open_connections);
    listener->accept();

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](beast::error_code, int) { io.stop(); });

    const std::string host_text =
        address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
    ready(std::string(tls ? "https" : "http") + "://" + host_text + ":" + std::to_string(port) +
          "/");
    std::vector<std::thread> threads;
    for (int i = 1; i < options.threads; ++i)
        threads.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& thread : threads)
        thread.join();
    log("dmonctl serve: stopped after " + std::to_string(handler.requests()) + " requests");
}

}  // namespace dmon::ctl::web
