#include "amqp_common/connection.hpp"

#include <dmon/secret_file.hpp>

#ifndef DMON_AMQP_NO_TLS
#include <amqp_ssl_socket.h>
#include <openssl/ssl.h>
#endif
#include <amqp_tcp_socket.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#ifndef _WIN32
#include <sys/stat.h>
#include <unistd.h>
#endif
#include <random>
#include <vector>

namespace dmon::plugins::amqp {

void check_password_file(const std::string& path) {
    if (std::string problem = secret_file_problem(path, "password_file"); !problem.empty())
        throw AmqpError(problem);
}

namespace {

struct ParsedUrl {
    std::string user, password, host, vhost;
    int port = 5672;
    bool ssl = false;
};

ParsedUrl parse_url(const std::string& url) {
    std::vector<char> copy(url.begin(), url.end());  // amqp_parse_url writes into its argument
    copy.push_back('\0');
    amqp_connection_info info{};
    if (amqp_parse_url(copy.data(), &info) != AMQP_STATUS_OK) {
        throw AmqpError(
            "bad broker url (expected amqp://user:password@host:port/vhost or amqps://...)");
    }
    ParsedUrl parsed{info.user, info.password, info.host, info.vhost, info.port, info.ssl != 0};
    // "amqp://host:5672/" names no vhost: that is RabbitMQ's default vhost "/" (spelled %2f in
    // URLs).
    if (parsed.vhost.empty())
        parsed.vhost = "/";
    return parsed;
}

std::string trim(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
        text.pop_back();
    return text;
}

}  // namespace

bool url_has_password(const std::string& url) {
    // amqp_parse_url fills in "guest" for a URL without one: look at the text itself.
    const size_t scheme = url.find("://");
    const size_t at = url.find('@');
    if (scheme == std::string::npos || at == std::string::npos)
        return false;
    const std::string user_info = url.substr(scheme + 3, at - scheme - 3);
    return user_info.find(':') != std::string::npos;
}

std::string safe_url(const std::string& url) {
    const ParsedUrl parsed = parse_url(url);
    return std::string(parsed.ssl ? "amqps" : "amqp") + "://" + parsed.user + "@" + parsed.host +
           ":" + std::to_string(parsed.port) + "/" + (parsed.vhost == "/" ? "" : parsed.vhost);
}

std::string describe(const amqp_rpc_reply_t& reply) {
    switch (reply.reply_type) {
        case AMQP_RESPONSE_NORMAL:
            return "ok";
        case AMQP_RESPONSE_NONE:
            return "no reply from the broker";
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            return amqp_error_string2(reply.library_error);
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
                const auto* close = static_cast<amqp_connection_close_t*>(reply.reply.decoded);
                return "connection closed by the broker: " + std::to_string(close->reply_code) +
                       " " + text(close->reply_text);
            }
            if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
                const auto* close = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
                return "channel closed by the broker: " + std::to_string(close->reply_code) + " " +
                       text(close->reply_text);
            }
            return "unexpected reply from the broker";
    }
    return "unknown reply";
}

std::unique_ptr<Connection> connect_any(const ConnectionSettings& settings, size_t& cursor) {
    const size_t n = settings.urls.size();
    if (n == 0)
        throw AmqpError("no broker url given");
    std::string reasons;
    for (size_t i = 0; i < n; ++i) {
        const size_t index = (cursor + i) % n;
        try {
            auto connection = std::make_unique<Connection>(settings, index);
            cursor = index;
            return connection;
        } catch (const AmqpError& e) {
            if (n == 1)
                throw;
            reasons += std::string(reasons.empty() ? "" : "; ") + e.what();
        }
    }
    throw AmqpError("none of the " + std::to_string(n) + " brokers answered: " + reasons);
}

std::string describe_brokers(const ConnectionSettings& settings, size_t cursor) {
    if (settings.urls.size() == 1)
        return safe_url(settings.urls.front());
    std::string out = safe_url(settings.urls.at(cursor % settings.urls.size())) + " (" +
                      std::to_string(cursor % settings.urls.size() + 1) + " of " +
                      std::to_string(settings.urls.size()) + ":";
    for (const auto& url : settings.urls)
        out += " " + safe_url(url);
    return out + ")";
}

Connection::Connection(const ConnectionSettings& settings, size_t index) {
    const std::string& text_url = settings.urls.at(index);
    ParsedUrl url = parse_url(text_url);
    user_ = url.user;
    where_ = safe_url(text_url);
    if (!settings.password_file.empty()) {
        check_password_file(settings.password_file);
        // stdio, not <fstream>: the first stream a process makes costs it the C++ locale code.
        std::FILE* in = std::fopen(settings.password_file.c_str(), "rb");
        if (in == nullptr)
            throw AmqpError(where_ + ": cannot read password_file " + settings.password_file);
        std::string content;
        char buffer[4096];
        size_t got = 0;
        while ((got = std::fread(buffer, 1, sizeof(buffer), in)) > 0 && content.size() < 65536)
            content.append(buffer, got);
        std::fclose(in);
        url.password = trim(content);
    } else if (!settings.password_env.empty()) {
        const char* value = std::getenv(settings.password_env.c_str());
        if (value == nullptr)
            throw AmqpError(where_ + ": password_env names " + settings.password_env +
                            ", which is not set");
        url.password = value;
    }

    state_.reset(amqp_new_connection());
    amqp_socket_t* socket = nullptr;
    if (url.ssl) {
#ifdef DMON_AMQP_NO_TLS
        throw AmqpError(
            where_ +
            ": this build of dmon has no TLS support (rabbitmq-c was built without OpenSSL)");
#else
        socket = amqp_ssl_socket_new(state());
        if (socket == nullptr)
            throw AmqpError(where_ + ": cannot create a TLS socket");
        amqp_ssl_socket_set_verify_peer(socket, 1);
        amqp_ssl_socket_set_verify_hostname(socket, 1);
        // TLS 1.0 and 1.1 are broken and withdrawn (RFC 8996).
        if (amqp_ssl_socket_set_ssl_versions(socket, AMQP_TLSv1_2, AMQP_TLSvLATEST) !=
            AMQP_STATUS_OK) {
            throw AmqpError(where_ + ": this TLS library cannot do TLS 1.2 or newer");
        }
        if (!settings.tls_ca.empty()) {
            if (amqp_ssl_socket_set_cacert(socket, settings.tls_ca.c_str()) != AMQP_STATUS_OK)
                throw AmqpError(where_ + ": cannot read tls_ca " + settings.tls_ca);
        } else {
            // No tls_ca: the system's CA store (rabbitmq-c loads none by itself, so without
            // this every amqps:// connection failed verification).
            auto* context = static_cast<SSL_CTX*>(amqp_ssl_socket_get_context(socket));
            if (context == nullptr || SSL_CTX_set_default_verify_paths(context) != 1)
                throw AmqpError(where_ + ": cannot load the system's CA certificates");
        }
        if (!settings.tls_cert.empty() &&
            amqp_ssl_socket_set_key(socket, settings.tls_cert.c_str(), settings.tls_key.c_str()) !=
                AMQP_STATUS_OK) {
            throw AmqpError(where_ + ": cannot read tls_cert " + settings.tls_cert + " / tls_key " +
                            settings.tls_key);
        }
#endif
    } else {
        socket = amqp_tcp_socket_new(state());
        if (socket == nullptr)
            throw AmqpError(where_ + ": cannot create a socket");
    }
    timeval timeout{
        static_cast<decltype(timeval::tv_sec)>(settings.timeout.count() / 1000),
        static_cast<decltype(timeval::tv_usec)>((settings.timeout.count() % 1000) * 1000)};
    const int status = amqp_socket_open_noblock(socket, url.host.c_str(), url.port, &timeout);
    if (status == AMQP_STATUS_SSL_PEER_VERIFY_FAILED) {
        throw AmqpError(where_ + ": TLS: the broker's certificate is not signed by " +
                        (settings.tls_ca.empty() ? std::string("a CA this system trusts")
                                                 : "tls_ca " + settings.tls_ca) +
                        "; refusing to connect");
    }
    if (status == AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED) {
        throw AmqpError(where_ + ": TLS: the broker's certificate is not for the host name '" +
                        url.host + "'; refusing to connect (use the name it was issued for)");
    }
    if (status != AMQP_STATUS_OK) {
        throw AmqpError(where_ + ": cannot connect: " + amqp_error_string2(status) +
                        (url.ssl ? "" : " (is the broker running there?)"));
    }
    amqp_set_handshake_timeout(state(), &timeout);
    amqp_set_rpc_timeout(state(), &timeout);
    // Advertise connection.blocked: during a memory or disk alarm the broker then says so at
    // once, instead of leaving a publisher to wait out its confirm timeout.
    amqp_table_entry_t capability;
    capability.key = amqp_cstring_bytes("connection.blocked");
    capability.value.kind = AMQP_FIELD_KIND_BOOLEAN;
    capability.value.value.boolean = 1;
    amqp_table_entry_t property;
    property.key = amqp_cstring_bytes("capabilities");
    property.value.kind = AMQP_FIELD_KIND_TABLE;
    property.value.value.table = amqp_table_t{1, &capability};
    const amqp_table_t properties{1, &property};
    const amqp_rpc_reply_t login =
        amqp_login_with_properties(state(), url.vhost.c_str(), 0, 131072, 30, &properties,
                                   AMQP_SASL_METHOD_PLAIN, url.user.c_str(), url.password.c_str());
    if (login.reply_type != AMQP_RESPONSE_NORMAL)
        throw AmqpError(where_ + ": login refused: " + describe(login));
    open_ = true;
    amqp_channel_open(state(), 1);
    check("opening channel 1");
}

Connection::~Connection() {
    if (open_) {
        amqp_channel_close(state(), 1, AMQP_REPLY_SUCCESS);
        amqp_connection_close(state(), AMQP_REPLY_SUCCESS);
    }
    // state_ releases the connection itself.
}

void Connection::check(const std::string& doing) {
    const amqp_rpc_reply_t reply = amqp_get_rpc_reply(state());
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
        open_ = false;  // after a failed call the connection is not worth a polite close
        throw AmqpError(where_ + ": " + doing + ": " + describe(reply));
    }
}

std::chrono::milliseconds Backoff::next() {
    static thread_local std::mt19937 random{std::random_device{}()};
    const int shift = std::min(failures_++, 6);
    const double base = std::min(500.0 * (1 << shift), 30000.0);
    std::uniform_real_distribution<double> jitter(0.75,
                                                  1.25);  // agents must not reconnect in lockstep
    return std::chrono::milliseconds(static_cast<int64_t>(base * jitter(random)));
}

}  // namespace dmon::plugins::amqp
