// The shared HTTP server's credential parsing (http/): every padding of basic authentication,
// and what is refused.
#include <dmon/http/server.hpp>

#include <gtest/gtest.h>

namespace dmon::http {
namespace {

TEST(HttpCredentials, BasicAuthenticationWithEveryPadding) {
    std::string user, password;
    // "u:p" (no padding), "u:pw" (==), "u:pwd" (=), and a password with a colon in it.
    const std::pair<std::string, std::string> cases[] = {{"Basic dTpw", "p"},
                                                         {"Basic dTpwdw==", "pw"},
                                                         {"Basic dTpwd2Q=", "pwd"},
                                                         {"Basic dTphOmI=", "a:b"}};
    for (const auto& [header, expected] : cases) {
        ASSERT_TRUE(basic_credentials(header, user, password)) << header;
        EXPECT_EQ(user, "u");
        EXPECT_EQ(password, expected) << header;
    }
    EXPECT_FALSE(basic_credentials("Basic !!!!", user, password));      // not base64
    EXPECT_FALSE(basic_credentials("Basic dXNlcg==", user, password));  // "user": no colon
    EXPECT_FALSE(basic_credentials("Bearer dTpw", user, password));
    EXPECT_FALSE(basic_credentials("Basic " + std::string(2000, 'A'), user, password));
}

TEST(HttpCredentials, BearerTokensAndSecretsCompare) {
    EXPECT_EQ(bearer_token("Bearer abc"), "abc");
    EXPECT_EQ(bearer_token("Basic abc"), "");
    EXPECT_TRUE(same_secret("abc", "abc"));
    EXPECT_FALSE(same_secret("abc", "abd"));
    EXPECT_FALSE(same_secret("abc", "abcd"));
}

}  // namespace
}  // namespace dmon::http
