#include "server.hpp"

#include "assets.hpp"
#include "open_store.hpp"

#include <dmon/str.hpp>

#include <dmon/http/server.hpp>

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace dmon::ctl::web {

namespace http = boost::beast::http;

namespace {

using dmon::http::Request;
using dmon::http::Response;

constexpr const char* kCookie = "dmon_token";

std::string error_body(const std::string& message) {
    return nlohmann::ordered_json{{"error", message}}.dump();
}

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Everything the sessions share: read-only after start.
class Handler {
  public:
    Handler(const ServeOptions& options, std::optional<std::string> token, bool tls,
            dmon::http::Endpoint bound, dmon::http::RateLimitedLog& log)
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

    Response handle(const Request& request) {
        auto response = route(request);
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
        return response;
    }

  private:
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

    bool host_allowed(const Request& request) const {
        if (token_)
            return true;
        const auto field = request[http::field::host];
        const std::string_view host(field.data(), field.size());
        for (const auto& allowed : allowed_hosts_)
            if (host == allowed)
                return true;
        return false;
    }

    bool authorized(const Request& request) const {
        if (!token_)
            return true;
        const auto header = request[http::field::authorization];
        const std::string_view authorization(header.data(), header.size());
        if (const auto bearer = dmon::http::bearer_token(authorization);
            !bearer.empty() && dmon::http::same_secret(bearer, *token_))
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
            if (cookie.rfind(prefix, 0) == 0 &&
                dmon::http::same_secret(cookie.substr(prefix.size()), *token_))
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

    Response login(const Request& request) {
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
        if (!given || !dmon::http::same_secret(*given, *token_)) {
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

    Response route(const Request& request) {
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
            store::Reader* reader = nullptr;
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
    ApiResponse answer_for(std::string_view target, store::Reader& reader) {
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
    store::Reader& reader_for_thread() {
        thread_local std::unique_ptr<store::Reader> reader;
        thread_local const Handler* owner = nullptr;
        if (!reader || owner != this) {
            reader = ctl::open_reader(options_.db);
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
    dmon::http::RateLimitedLog& log_;
    Api api_;
    std::vector<std::string> allowed_hosts_;
    std::mutex cache_mutex_;
    std::mutex login_mutex_;
    std::deque<std::chrono::steady_clock::time_point> login_failures_;
    std::map<std::string, std::pair<std::chrono::steady_clock::time_point, ApiResponse>> cache_;
    static thread_local std::unique_ptr<store::Reader>* current_;
};

thread_local std::unique_ptr<store::Reader>* Handler::current_ = nullptr;

}  // namespace

bool is_loopback_listen(const std::string& listen) {
    return dmon::http::is_loopback_listen(listen);
}

void serve(const ServeOptions& options, const std::function<void(const std::string&)>& log_sink,
           const std::function<void(const std::string& url)>& ready) {
    dmon::http::RateLimitedLog log(log_sink);
    std::optional<std::string> token;
    if (!options.token_file.empty())
        token = dmon::http::read_token_file(options.token_file, "--token-file");
    const bool loopback = dmon::http::is_loopback_listen(options.listen);
    if (!loopback && !token)
        throw std::invalid_argument(
            "--listen " + options.listen +
            " is reachable from other machines: it needs --token-file (anyone who reaches it "
            "could read every metric)");
    const bool tls = !options.tls_cert.empty() || !options.tls_key.empty();
    if (tls && (options.tls_cert.empty() || options.tls_key.empty()))
        throw std::invalid_argument("HTTPS needs both --tls-cert and --tls-key");
    if (!loopback && !tls)
        log("dmonctl serve: warning: serving " + options.listen +
            " without TLS: the token and the metrics cross the network in clear text "
            "(--tls-cert/--tls-key)");

    dmon::http::ServerSettings settings;
    settings.listen = options.listen;
    settings.tls_cert = options.tls_cert;
    settings.tls_key = options.tls_key;
    settings.name = "dmonctl serve";
    settings.threads = options.threads;
    settings.max_connections = options.max_connections;
    settings.idle_timeout = options.idle_timeout;
    settings.header_limit = 8 * 1024;
    settings.body_limit = 4 * 1024;  // the login form; nothing else has a body
    // The handler is made once the port is known (it checks Host headers against it).
    std::unique_ptr<Handler> handler;
    dmon::http::Server server(
        settings, [&handler](const Request& request) { return handler->handle(request); },
        [&log](const std::string& line) { log(line); });
    dmon::http::Endpoint bound = dmon::http::parse_listen(options.listen);
    bound.port = server.port();
    handler = std::make_unique<Handler>(options, token, server.tls(), bound, log);
    ready(server.url());
    server.run(/*stop_on_signals=*/true);
    log("dmonctl serve: stopped after " + std::to_string(server.requests()) + " requests");
}

}  // namespace dmon::ctl::web
