#include "dmon/http/server.hpp"

#include <dmon/secret_file.hpp>
#include <dmon/str.hpp>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/crypto.h>

#include <atomic>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

namespace dmon::http {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

Endpoint parse_listen(const std::string& listen, const std::string& what) {
    Endpoint endpoint;
    const size_t colon = listen.rfind(':');
    if (colon == std::string::npos)
        throw std::invalid_argument(what + " needs HOST:PORT; got '" + listen + "'");
    endpoint.host = listen.substr(0, colon);
    if (endpoint.host.size() >= 2 && endpoint.host.front() == '[' && endpoint.host.back() == ']')
        endpoint.host = endpoint.host.substr(1, endpoint.host.size() - 2);
    const std::string port = listen.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535)
        throw std::invalid_argument(what + " needs a port 0..65535; got '" + listen + "'");
    endpoint.port = static_cast<unsigned short>(std::stoi(port));
    if (endpoint.host == "localhost")
        endpoint.host = "127.0.0.1";
    return endpoint;
}

bool is_loopback_listen(const std::string& listen) {
    const Endpoint endpoint = parse_listen(listen);
    beast::error_code ec;
    const auto address = asio::ip::make_address(endpoint.host, ec);
    return !ec && address.is_loopback();
}

bool listen_address_taken(const std::string& listen) {
    const Endpoint endpoint = parse_listen(listen);
    beast::error_code ec;
    const auto address = asio::ip::make_address(endpoint.host, ec);
    if (ec || endpoint.port == 0)
        return false;
    asio::io_context io;
    tcp::acceptor probe(io);
    const tcp::endpoint at(address, endpoint.port);
    probe.open(at.protocol(), ec);
    if (ec)
        return false;
    probe.set_option(asio::socket_base::reuse_address(true), ec);  // TIME_WAIT is not "taken"
    probe.bind(at, ec);
    return ec == asio::error::address_in_use;
}

void RateLimitedLog::operator()(const std::string& line) {
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

bool same_secret(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string read_token_file(const std::string& path, const std::string& what) {
    std::string token = read_secret_file(path, what);
    if (token.size() < 16)
        throw std::invalid_argument(what + " " + path +
                                    ": the token must be 16 characters or more (for example: "
                                    "openssl rand -hex 32)");
    if (token.find_first_of(";, \t\"") != std::string::npos)
        throw std::invalid_argument(what + " " + path +
                                    ": the token may not hold spaces, quotes, commas or ;");
    return token;
}

std::string_view bearer_token(std::string_view authorization) {
    if (authorization.rfind("Bearer ", 0) != 0)
        return {};
    return authorization.substr(7);
}

bool basic_credentials(std::string_view authorization, std::string& user, std::string& password) {
    if (authorization.rfind("Basic ", 0) != 0)
        return false;
    std::string_view encoded = authorization.substr(6);
    if (encoded.size() > 1024)
        return false;
    // Beast's decoder stops at the padding: what must be read whole is what comes before it.
    for (int pad = 0; pad < 2 && !encoded.empty() && encoded.back() == '='; ++pad)
        encoded.remove_suffix(1);
    std::string decoded((encoded.size() + 3) / 4 * 3, '\0');  // room for a last partial group
    const auto [written, read] =
        beast::detail::base64::decode(decoded.data(), encoded.data(), encoded.size());
    if (read != encoded.size())
        return false;
    decoded.resize(written);
    const size_t colon = decoded.find(':');
    if (colon == std::string::npos)
        return false;
    user = decoded.substr(0, colon);
    password = decoded.substr(colon + 1);
    return true;
}

namespace {

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

struct Shared {
    ServerSettings settings;
    Handler handler;
    RateLimitedLog log;
    std::atomic<int> open{0};
    std::atomic<int64_t> requests{0};
};

template <bool Tls>
class Session : public std::enable_shared_from_this<Session<Tls>> {
    using Stream = std::conditional_t<Tls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

  public:
    Session(tcp::socket&& socket, ssl::context* context, Shared& shared)
        : stream_(make_stream(std::move(socket), context)), shared_(shared), slot_(shared.open) {}

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
            beast::get_lowest_layer(stream_).expires_after(shared_.settings.idle_timeout);
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
        parser_->header_limit(static_cast<uint32_t>(shared_.settings.header_limit));
        parser_->body_limit(shared_.settings.body_limit);
        beast::get_lowest_layer(stream_).expires_after(shared_.settings.idle_timeout);
        bhttp::async_read(stream_, buffer_, *parser_,
                          beast::bind_front_handler(&Session::on_read, this->shared_from_this()));
    }

    void on_read(beast::error_code ec, size_t) {
        if (ec == bhttp::error::header_limit || ec == bhttp::error::body_limit) {
            // Answer once, then close: the rest of the request is not read.
            const bool header = ec == bhttp::error::header_limit;
            auto response =
                std::make_shared<Response>(header ? bhttp::status::request_header_fields_too_large
                                                  : bhttp::status::payload_too_large,
                                           11);
            response->set(bhttp::field::content_type, "application/json");
            response->body() =
                std::string("{\"error\":\"the request's ") + (header ? "header" : "body") +
                " is larger than " +
                std::to_string(
                    (header ? shared_.settings.header_limit : shared_.settings.body_limit) / 1024) +
                " KiB\"}";
            response->keep_alive(false);
            response->prepare_payload();
            write(std::move(response));
            return;
        }
        if (ec)
            return close();  // end of stream, a timeout, a malformed request: nothing to say
        shared_.requests.fetch_add(1, std::memory_order_relaxed);
        const Request& request = parser_->get();
        auto response = std::make_shared<Response>(shared_.handler(request));
        response->version(request.version());
        response->keep_alive(request.keep_alive());
        response->set(bhttp::field::server, shared_.settings.name);
        if (request.method() == bhttp::verb::head) {
            response->content_length(response->body().size());
            response->body().clear();
        } else {
            response->prepare_payload();
        }
        if (response->result_int() >= 500)
            shared_.log(
                shared_.settings.name + ": " + std::to_string(response->result_int()) + " for " +
                escape_text(std::string_view(request.target().data(), request.target().size()),
                            200));
        write(std::move(response));
    }

    void write(std::shared_ptr<Response> response) {
        response_ = std::move(response);
        beast::get_lowest_layer(stream_).expires_after(shared_.settings.idle_timeout);
        bhttp::async_write(stream_, *response_,
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
    std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
    std::shared_ptr<Response> response_;
    Shared& shared_;
    ConnectionSlot slot_;
};

class Listener : public std::enable_shared_from_this<Listener> {
  public:
    Listener(asio::io_context& io, tcp::acceptor& acceptor, ssl::context* context, Shared& shared)
        : io_(io), acceptor_(acceptor), context_(context), shared_(shared) {}

    void accept() {
        acceptor_.async_accept(asio::make_strand(io_),
                               beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
    }

  private:
    void on_accept(beast::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor_.is_open())
            return;
        if (!ec) {
            if (shared_.open.load() >= shared_.settings.max_connections) {
                // Full: closed at once rather than queued; a client retries.
                ++refused_;
                shared_.log(shared_.settings.name + ": " +
                            std::to_string(shared_.settings.max_connections) +
                            " connections open; one refused (" + std::to_string(refused_) +
                            " so far)");
                beast::error_code ignored;
                socket.close(ignored);
            } else if (context_ != nullptr) {
                std::make_shared<Session<true>>(std::move(socket), context_, shared_)->run();
            } else {
                std::make_shared<Session<false>>(std::move(socket), nullptr, shared_)->run();
            }
        }
        accept();
    }

    asio::io_context& io_;
    tcp::acceptor& acceptor_;
    ssl::context* context_;
    Shared& shared_;
    int64_t refused_ = 0;
};

}  // namespace

struct Server::State {
    explicit State(ServerSettings settings, Handler handler, LogFn log)
        : shared{std::move(settings), std::move(handler), RateLimitedLog(std::move(log))},
          io(shared.settings.threads),
          acceptor(io) {}
    // Declared before the io_context: sessions still queued when it is destroyed release their
    // slot into it.
    Shared shared;
    asio::io_context io;
    tcp::acceptor acceptor;
    std::unique_ptr<ssl::context> context;
    asio::ip::address address;
    unsigned short port = 0;
    std::vector<std::thread> threads;
};

Server::Server(ServerSettings settings, Handler handler, LogFn log)
    : state_(std::make_unique<State>(std::move(settings), std::move(handler), std::move(log))) {
    const ServerSettings& s = state_->shared.settings;
    if (s.threads < 1 || s.max_connections < 1)
        throw std::invalid_argument(s.name + ": threads and max_connections must be at least 1");
    const Endpoint endpoint = parse_listen(s.listen, s.listen_option);
    beast::error_code ec;
    state_->address = asio::ip::make_address(endpoint.host, ec);
    if (ec)
        throw std::invalid_argument(s.listen_option + " needs an IP address (or localhost); got '" +
                                    endpoint.host + "'");
    const bool tls = !s.tls_cert.empty() || !s.tls_key.empty();
    if (tls && (s.tls_cert.empty() || s.tls_key.empty()))
        throw std::invalid_argument("HTTPS needs both a certificate and a key");
    if (tls) {
        auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
        context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                             ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                             ssl::context::no_tlsv1_1);
        try {
            context->use_certificate_chain_file(s.tls_cert);
            context->use_private_key_file(s.tls_key, ssl::context::pem);
        } catch (const std::exception& e) {
            throw std::invalid_argument("the TLS certificate or key cannot be used (" + s.tls_cert +
                                        ", " + s.tls_key + "): " + e.what());
        }
        state_->context = std::move(context);
    }
    const tcp::endpoint bind_to(state_->address, endpoint.port);
    state_->acceptor.open(bind_to.protocol());
    state_->acceptor.set_option(asio::socket_base::reuse_address(true));
#ifdef SO_REUSEPORT
    if (s.reuse_port) {
        using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
        state_->acceptor.set_option(reuse_port(true));
    }
#endif
    state_->acceptor.bind(bind_to, ec);
    if (ec)
        throw std::runtime_error("cannot listen on " + s.listen + ": " + ec.message());
    state_->acceptor.listen(asio::socket_base::max_listen_connections);
    state_->port = state_->acceptor.local_endpoint().port();
    std::make_shared<Listener>(state_->io, state_->acceptor, state_->context.get(), state_->shared)
        ->accept();
}

Server::~Server() {
    stop();
    for (auto& thread : state_->threads)
        thread.join();
}

void Server::run(bool stop_on_signals) {
    std::optional<asio::signal_set> signals;
    if (stop_on_signals) {
        signals.emplace(state_->io, SIGINT, SIGTERM);
        signals->async_wait([this](beast::error_code, int) { stop(); });
    }
    for (int i = 1; i < state_->shared.settings.threads; ++i)
        state_->threads.emplace_back([this] { state_->io.run(); });
    state_->io.run();
    for (auto& thread : state_->threads)
        thread.join();
    state_->threads.clear();
}

void Server::start() {
    for (int i = 0; i < state_->shared.settings.threads; ++i)
        state_->threads.emplace_back([this] { state_->io.run(); });
}

void Server::stop() {
    state_->io.stop();  // sessions and the acceptor go with the io_context
}

std::string Server::url() const {
    const std::string host = state_->address.is_v6() ? "[" + state_->address.to_string() + "]"
                                                     : state_->address.to_string();
    return std::string(tls() ? "https" : "http") + "://" + host + ":" +
           std::to_string(state_->port) + "/";
}
unsigned short Server::port() const {
    return state_->port;
}
bool Server::tls() const {
    return state_->context != nullptr;
}
bool Server::loopback() const {
    return state_->address.is_loopback();
}
int64_t Server::requests() const {
    return state_->shared.requests.load();
}

}  // namespace dmon::http
