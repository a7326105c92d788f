#include "credentials.hpp"

#include <dmon/secret_file.hpp>

#include <stdexcept>

namespace dmon::plugins::prometheus {

Credentials read_credentials(const sdk::Options& options,
                             const std::function<std::string(const std::string&)>& read_token) {
    Credentials credentials;
    try {
        if (auto file = options.string("bearer_token_file"))
            credentials.token = read_token(*file);
        credentials.user = options.string("basic_auth_user");
        const auto password_file = options.string("basic_auth_password_file");
        if (credentials.user.has_value() != password_file.has_value())
            throw sdk::InvalidInput(
                "basic_auth_user and basic_auth_password_file go together: set both or neither");
        if (password_file)
            credentials.password = read_secret_file(*password_file, "basic_auth_password_file");
    } catch (const std::invalid_argument& e) {
        throw sdk::InvalidInput(e.what());
    }
    if (credentials.token && credentials.user)
        throw sdk::InvalidInput("choose one of bearer_token_file and basic_auth_user, not both");
    return credentials;
}

}  // namespace dmon::plugins::prometheus
