#pragma once

#include "amqp_common/connection.hpp"

#include <dmon/plugin.hpp>

namespace dmon::plugins::amqp {

// The connection options both AMQP plugins declare, in their declaration order.
#define DMON_AMQP_CONNECTION_OPTIONS                                                         \
    ::dmon::sdk::option("url", DMON_OPT_STRING, nullptr,                                     \
                        "broker: amqp://user:password@host:port/vhost, or amqps:// for TLS " \
                        "(default amqp://guest:guest@127.0.0.1:5672/)"),                     \
        ::dmon::sdk::option("urls", DMON_OPT_STRING_LIST, nullptr,                           \
                            "several brokers (a cluster's nodes), tried in turn: failover "  \
                            "with back-off; instead of url"),                                \
        ::dmon::sdk::option("exchange", DMON_OPT_STRING, "dmon.metrics",                     \
                            "the durable topic exchange"),                                   \
        ::dmon::sdk::option("password_file", DMON_OPT_STRING, nullptr,                       \
                            "read the password from this file"),                             \
        ::dmon::sdk::option("password_env", DMON_OPT_STRING, nullptr,                        \
                            "read the password from this environment variable"),             \
        ::dmon::sdk::option("tls_ca", DMON_OPT_STRING, nullptr,                              \
                            "amqps: CA file that signs the broker's certificate"),           \
        ::dmon::sdk::option("tls_cert", DMON_OPT_STRING, nullptr,                            \
                            "amqps: client certificate file"),                               \
        ::dmon::sdk::option("tls_key", DMON_OPT_STRING, nullptr, "amqps: client key file"),  \
        ::dmon::sdk::option("timeout", DMON_OPT_DURATION, "5s",                              \
                            "connect, login and confirm timeout")

inline ConnectionSettings connection_settings(const sdk::Options& options) {
    ConnectionSettings settings;
    const auto url = options.string("url");
    const auto urls = options.list("urls");
    if (url && !urls.empty())
        throw sdk::InvalidInput("url and urls are both given: list every broker in urls");
    if (url)
        settings.urls = {*url};
    else if (!urls.empty())
        settings.urls = urls;
    // Options declared without a default: unset means "not used".
    settings.password_file = options.string("password_file").value_or("");
    settings.password_env = options.string("password_env").value_or("");
    settings.tls_ca = options.string("tls_ca").value_or("");
    settings.tls_cert = options.string("tls_cert").value_or("");
    settings.tls_key = options.string("tls_key").value_or("");
    settings.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::nanoseconds(options.duration_value_ns("timeout")));
    bool password_in_url = false;
    for (const auto& each : settings.urls) {
        try {
            safe_url(each);  // a malformed URL is refused at create, not at the first send
        } catch (const AmqpError& e) {
            throw sdk::InvalidInput(e.what());
        }
        password_in_url = password_in_url || url_has_password(each);
    }
    if (password_in_url && (!settings.password_file.empty() || !settings.password_env.empty())) {
        throw sdk::InvalidInput(
            "the password is given twice: in url and in password_file/password_env; leave it "
            "out of the url (amqp://user@host/), which may end up in logs and process lists");
    }
    if (!settings.password_file.empty()) {
        try {
            check_password_file(settings.password_file);  // at create too: a clear load error
        } catch (const AmqpError& e) {
            throw sdk::InvalidInput(e.what());
        }
    }
    return settings;
}

}  // namespace dmon::plugins::amqp
