#pragma once
// The credentials of both Prometheus sinks, declared and read one way: a bearer token from a
// file, or basic authentication with the password from a file (both mode 0600), never both.
// The prometheus sink asks scrapers for them; prometheus_remote_write sends them.
#include <dmon/plugin.hpp>

#include <functional>
#include <optional>
#include <string>

// In a plugin's option table.
#define DMON_PROMETHEUS_CREDENTIAL_OPTIONS                                                         \
    ::dmon::sdk::option("bearer_token_file", DMON_OPT_STRING, nullptr,                             \
                        "Authorization: Bearer <the file's first line> (mode 0600)"),              \
        ::dmon::sdk::option("basic_auth_user", DMON_OPT_STRING, nullptr,                           \
                            "basic authentication with this user (and basic_auth_password_file)"), \
        ::dmon::sdk::option("basic_auth_password_file", DMON_OPT_STRING, nullptr,                  \
                            "the password for basic_auth_user (first line, mode 0600)")

namespace dmon::plugins::prometheus {

struct Credentials {
    std::optional<std::string> token;  // bearer
    std::optional<std::string> user;   // basic, with password
    std::string password;
    bool any() const { return token || user; }
};

// Throws sdk::InvalidInput for half a basic pair, both kinds at once, or a file that may not hold
// a secret. read_token reads the token file (the server side asks more of a token than a client
// can of one it was given).
Credentials read_credentials(const sdk::Options& options,
                             const std::function<std::string(const std::string&)>& read_token);

}  // namespace dmon::plugins::prometheus
