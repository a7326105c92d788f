// prometheus: serves the latest value of every series at GET /metrics, for Prometheus (or
// anything that scrapes) to collect. write() only updates a table; the HTTP server runs on a
// thread of its own and renders that table when a scraper asks, so a scrape never waits for a
// collector and a collector never waits for a scrape (they share one short lock).
#include "prometheus_common/credentials.hpp"
#include "prometheus_common/exposition.hpp"

#include <dmon/http/server.hpp>
#include <dmon/plugin.hpp>
#include <dmon/secret_file.hpp>

#include <boost/beast/http.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <optional>

namespace dmon::plugins::prometheus {

namespace bhttp = boost::beast::http;

constexpr dmon_option_decl kOptions[] = {
    sdk::option("listen", DMON_OPT_STRING, "127.0.0.1:9464",
                "HOST:PORT to serve /metrics on ([::1]:9464 for IPv6; port 0 picks one)"),
    sdk::option("path", DMON_OPT_STRING, "/metrics", "the path scrapers ask for"),
    sdk::option("expire", DMON_OPT_DURATION, "5m",
                "a series not refreshed for this long leaves the exposition"),
    sdk::option("max_series", DMON_OPT_INT, "100000",
                "series kept at most; samples of new series past it are refused and counted"),
    // Asked of scrapers.
    DMON_PROMETHEUS_CREDENTIAL_OPTIONS,
    sdk::option("allow_anonymous", DMON_OPT_BOOL, "false",
                "serve an address other than loopback without authentication"),
    sdk::option("tls_cert", DMON_OPT_STRING, nullptr, "PEM certificate chain: serve HTTPS"),
    sdk::option("tls_key", DMON_OPT_STRING, nullptr, "PEM private key of tls_cert"),
    sdk::option("max_connections", DMON_OPT_INT, "16", "scrapers connected at once, at most"),
};

// The addresses this process's instances listen on. They bind with SO_REUSEPORT so that an
// instance replacing another in a hot reload can listen before the old one stops; that option
// would also let another program share the port and take half the scrapes in silence, so an
// address no instance here holds must be free. Held while the instance lives.
class AddressClaim {
  public:
    // Throws sdk::InvalidInput when another program listens on `listen`.
    explicit AddressClaim(std::string listen) : listen_(std::move(listen)) {
        std::lock_guard lock(mutex());
        int& count = counts()[listen_];
        if (count == 0 && http::listen_address_taken(listen_)) {
            counts().erase(listen_);
            throw sdk::InvalidInput("listen " + listen_ +
                                    ": another program already listens there (address in use)");
        }
        ++count;
    }
    ~AddressClaim() {
        std::lock_guard lock(mutex());
        if (--counts()[listen_] <= 0)
            counts().erase(listen_);
    }
    AddressClaim(const AddressClaim&) = delete;
    AddressClaim& operator=(const AddressClaim&) = delete;

  private:
    static std::mutex& mutex() {
        static std::mutex instance;
        return instance;
    }
    static std::map<std::string, int>& counts() {
        static std::map<std::string, int> instance;
        return instance;
    }
    std::string listen_;
};

class PrometheusSink : public sdk::Sink {
  public:
    explicit PrometheusSink(const sdk::Context& context)
        : host_(context.host),
          exposition_(settings(context.options)),
          path_(context.options.string_value("path")) {
        const auto& options = context.options;
        if (path_.empty() || path_.front() != '/')
            throw sdk::InvalidInput("path must start with '/'; got '" + path_ + "'");
        credentials_ = read_credentials(options, [](const std::string& path) {
            return http::read_token_file(path, "bearer_token_file");
        });
        try {
            http::ServerSettings server;
            server.listen = options.string_value("listen");
            server.listen_option = "listen";
            server.name = "dmon prometheus";
            server.threads = 1;
            server.max_connections = static_cast<int>(options.integer_value("max_connections"));
            server.tls_cert = options.string("tls_cert").value_or("");
            server.tls_key = options.string("tls_key").value_or("");
            if (server.tls_cert.empty() != server.tls_key.empty())
                throw sdk::InvalidInput("tls_cert and tls_key go together: set both or neither");
            server.body_limit = 0;     // a scrape has no body
            server.reuse_port = true;  // a replacing instance binds while this one drains
            const bool authenticated = credentials_.any();
            if (!authenticated && !http::is_loopback_listen(server.listen) &&
                !options.bool_value("allow_anonymous"))
                throw sdk::InvalidInput(
                    "listen " + server.listen +
                    " is reachable from other machines: set bearer_token_file or "
                    "basic_auth_user/basic_auth_password_file (or allow_anonymous: true)");
            if (context.check_only)
                return;  // `dmon check`: listening is for `run` (a running agent holds the port)
            claim_.emplace(server.listen);
            server_ = std::make_unique<http::Server>(
                server, [this](const http::Request& request) { return handle(request); },
                [this](const std::string& line) { host_.warn(line); });
            if (authenticated && !server_->tls() && !server_->loopback())
                host_.warn("serving " + server.listen +
                           " without TLS: the credentials cross the network in clear text "
                           "(tls_cert/tls_key)");
            server_->start();
            host_.info("serving " + server_->url().substr(0, server_->url().size() - 1) + path_);
        } catch (const std::invalid_argument& e) {
            throw sdk::InvalidInput(e.what());
        }
    }

    ~PrometheusSink() override {
        if (server_)
            server_->stop();
    }

    void write(const sdk::Batch& batch) override {
        const int64_t now = host_.now_ns();
        uint64_t over_limit = 0, conflicts = 0;
        {
            std::lock_guard lock(mutex_);
            for (size_t i = 0; i < batch.size(); ++i) {
                switch (exposition_.update(*batch[i].raw, now)) {
                    case Exposition::Update::stored:
                        break;
                    case Exposition::Update::refused_max_series:
                        ++over_limit;
                        break;
                    case Exposition::Update::refused_type_conflict:
                        ++conflicts;
                        break;
                }
            }
            // Forgetting is linear in the series: done every 30 s, not per batch. A scrape
            // in between already leaves expired series out.
            if (now - last_expiry_ns_ > 30'000'000'000LL) {
                exposition_.expire(now);
                last_expiry_ns_ = now;
            }
        }
        refused(over_limit, "max_series",
                "series past max_series; raise it or collect fewer series");
        refused(conflicts, "type_conflict",
                "a gauge and a counter would share one Prometheus name");
    }

  private:
    static Exposition::Settings settings(const sdk::Options& options) {
        Exposition::Settings settings;
        settings.expire_ns = options.duration_value_ns("expire");
        const int64_t max_series = options.integer_value("max_series");
        if (max_series < 1)
            throw sdk::InvalidInput("max_series must be 1 or more");
        settings.max_series = static_cast<size_t>(max_series);
        return settings;
    }

    void refused(uint64_t samples, const std::string& reason, const std::string& why) {
        if (samples == 0)
            return;
        host_.count("prometheus.refused_samples{reason=" + reason + "}", samples);
        const int64_t now = host_.now_ns();
        if (now - last_refusal_log_ns_ > 60'000'000'000LL) {  // a line a minute at most
            last_refusal_log_ns_ = now;
            host_.warn(std::to_string(samples) + " sample(s) refused: " + why +
                       " (dmon.prometheus.refused_samples{reason=" + reason + "})");
        }
    }

    bool authorized(const http::Request& request) const {
        if (!credentials_.any())
            return true;
        const auto header = request[bhttp::field::authorization];
        const std::string_view authorization(header.data(), header.size());
        if (credentials_.token) {
            const std::string_view given = http::bearer_token(authorization);
            return !given.empty() && http::same_secret(given, *credentials_.token);
        }
        std::string user, password;
        if (!http::basic_credentials(authorization, user, password))
            return false;
        // Both compared whatever the first says, so that timing tells nothing.
        const bool user_ok = http::same_secret(user, *credentials_.user);
        const bool password_ok = http::same_secret(password, credentials_.password);
        return user_ok && password_ok;
    }

    http::Response handle(const http::Request& request) {
        http::Response response{bhttp::status::ok, 11};
        response.set(bhttp::field::cache_control, "no-store");
        const std::string_view target(request.target().data(), request.target().size());
        if (target.substr(0, target.find('?')) != path_) {
            response.result(bhttp::status::not_found);
            response.set(bhttp::field::content_type, "text/plain; charset=utf-8");
            response.body() = "not found: the metrics are at " + path_ + "\n";
            return response;
        }
        if (request.method() != bhttp::verb::get && request.method() != bhttp::verb::head) {
            response.result(bhttp::status::method_not_allowed);
            response.set(bhttp::field::allow, "GET, HEAD");
            return response;
        }
        if (!authorized(request)) {
            response.result(bhttp::status::unauthorized);
            response.set(bhttp::field::www_authenticate,
                         credentials_.user ? "Basic realm=\"dmon\"" : "Bearer realm=\"dmon\"");
            response.set(bhttp::field::content_type, "text/plain; charset=utf-8");
            response.body() = "credentials needed\n";
            return response;
        }
        const auto accept = request[bhttp::field::accept];
        const Format format = negotiate(std::string_view(accept.data(), accept.size()));
        response.set(bhttp::field::content_type, std::string(content_type(format)));
        std::lock_guard lock(mutex_);
        exposition_.render(format, host_.now_ns(), response.body());
        return response;
    }

    sdk::Host host_;
    std::mutex mutex_;  // the table: write() on the sink's strand, scrapes on the server's thread
    Exposition exposition_;
    std::string path_;
    Credentials credentials_;
    std::optional<AddressClaim> claim_;  // before server_: released after it closed
    int64_t last_expiry_ns_ = 0;
    int64_t last_refusal_log_ns_ = 0;
    std::unique_ptr<http::Server> server_;  // last: stopped before the table and the claim go
};

}  // namespace dmon::plugins::prometheus

DMON_SINK_PLUGIN(dmon::plugins::prometheus::PrometheusSink, "prometheus", "1.0.0",
                 "serves the latest value of every series for Prometheus to scrape (/metrics)",
                 dmon::plugins::prometheus::kOptions)
