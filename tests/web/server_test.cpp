// The real `dmonctl serve` process over loopback: the page, the API, the token (bearer, login
// form, cookie), TLS, the loopback-only rules, the request limits, and 50 clients for 10 s
// against a store of 1,000 hosts.
#include "../host/test_support.hpp"
#include "../integration/process.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <thread>

namespace dmon::test {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

const std::string kDmonctl = DMONCTL_BINARY;
const std::string kFleet = DMON_FLEET_STORE;

struct Reply {
    int status = 0;
    std::map<std::string, std::string> headers;
    std::string body;
};

// One request on a new connection (TLS without certificate checks: the test's own cert).
Reply request(int port, http::verb method, const std::string& target,
              const std::map<std::string, std::string>& headers = {}, const std::string& body = {},
              bool tls = false) {
    asio::io_context io;
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
    for (const auto& [name, value] : headers)
        req.set(name, value);
    req.body() = body;
    req.prepare_payload();
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"),
                                 static_cast<unsigned short>(port));
    if (tls) {
        ssl::context context(ssl::context::tls_client);
        context.set_verify_mode(ssl::verify_none);
        beast::ssl_stream<beast::tcp_stream> stream(io, context);
        beast::get_lowest_layer(stream).connect(endpoint);
        stream.handshake(ssl::stream_base::client);
        http::write(stream, req);
        http::read(stream, buffer, res);
    } else {
        beast::tcp_stream stream(io);
        stream.connect(endpoint);
        http::write(stream, req);
        http::read(stream, buffer, res);
    }
    Reply reply{static_cast<int>(res.result_int()), {}, res.body()};
    for (const auto& field : res)
        reply.headers[std::string(field.name_string())] = std::string(field.value());
    return reply;
}

Reply get(int port, const std::string& target,
          const std::map<std::string, std::string>& headers = {}) {
    return request(port, http::verb::get, target, headers);
}

// `dmonctl serve` on a free loopback port; the port read from the line it prints.
class Server {
  public:
    Server(const std::string& arguments, const TempFolder& folder)
        : out_(folder.path("serve-" + std::to_string(++count_) + ".out")),
          process_(kDmonctl + " serve --listen 127.0.0.1:0 " + arguments + " >" + out_ + " 2>" +
                   out_ + ".err") {
        const std::regex url(R"(https?://127\.0\.0\.1:(\d+)/)");
        for (int i = 0; i < 100 && port_ == 0 && process_.running(); ++i) {
            std::ifstream in(out_);
            std::string text((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
            std::smatch match;
            if (std::regex_search(text, match, url))
                port_ = std::stoi(match[1]);
            else
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    int port() const { return port_; }
    std::string errors() const {
        std::ifstream in(out_ + ".err");
        return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
    Process& process() { return process_; }

  private:
    static inline int count_ = 0;
    std::string out_;
    Process process_;
    int port_ = 0;
};

class ServerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        db_ = folder_.path("metrics.db");
        ASSERT_EQ(run_command(kFleet + " --db " + db_ + " --hosts 2 --duration 2m --interval 1s")
                      .exit_code,
                  0);
    }
    std::string token_file(const std::string& token, const char* mode = "600") {
        const std::string path = folder_.path("token");
        std::ofstream(path) << token << "\n";
        run_command("chmod " + std::string(mode) + " " + path);
        return path;
    }
    TempFolder folder_;
    std::string db_;
};

TEST_F(ServerTest, ServesThePageAndTheApiOnLoopbackWithSafeHeaders) {
    Server server("--db " + db_, folder_);
    ASSERT_NE(server.port(), 0) << server.errors();
    Reply page = get(server.port(), "/");
    EXPECT_EQ(page.status, 200);
    EXPECT_EQ(page.headers["Content-Type"], "text/html; charset=utf-8");
    EXPECT_NE(page.body.find("<script src=\"/app.js\"></script>"), std::string::npos);
    EXPECT_EQ(page.headers["X-Content-Type-Options"], "nosniff");
    EXPECT_EQ(page.headers["X-Frame-Options"], "DENY");
    EXPECT_EQ(page.headers.count("Access-Control-Allow-Origin"), 0u);  // no CORS, wildcard or not
    EXPECT_NE(page.headers["Content-Security-Policy"].find("default-src 'self'"),
              std::string::npos);
    Reply script = get(server.port(), "/app.js");
    EXPECT_EQ(script.status, 200);
    EXPECT_EQ(script.headers["Content-Type"], "text/javascript; charset=utf-8");
    EXPECT_NE(script.body.find("uPlot"), std::string::npos);  // bundled, not from a CDN
    Reply hosts = get(server.port(), "/api/v1/hosts");
    EXPECT_EQ(hosts.status, 200);
    EXPECT_EQ(hosts.headers["Content-Type"], "application/json");
    EXPECT_EQ(hosts.headers["Cache-Control"], "no-store");
    EXPECT_NE(hosts.body.find(R"({"host":"web-1","last_seen":)"), std::string::npos) << hosts.body;
    EXPECT_EQ(get(server.port(), "/nothing").status, 404);
    Reply bad = get(server.port(), "/api/v1/points?metric=system.cpu.utilization&points=x");
    EXPECT_EQ(bad.status, 400);
    EXPECT_EQ(bad.body, R"({"error":"points must be an integer; got 'x'","parameter":"points"})");
    EXPECT_EQ(server.process().stop(), 0);
}

// A page of another site whose name resolves to 127.0.0.1 (DNS rebinding) is not answered.
TEST_F(ServerTest, WithoutATokenOnlyLoopbackHostNamesAreAnswered) {
    Server server("--db " + db_, folder_);
    ASSERT_NE(server.port(), 0) << server.errors();
    EXPECT_EQ(get(server.port(), "/api/v1/hosts", {{"Host", "evil.example"}}).status, 421);
    EXPECT_EQ(get(server.port(), "/api/v1/hosts",
                  {{"Host", "localhost:" + std::to_string(server.port())}})
                  .status,
              200);
}

TEST_F(ServerTest, AnotherAddressNeedsATokenAndBadTokenFilesAreRefused) {
    auto open = run_command(kDmonctl + " serve --db " + db_ + " --listen 0.0.0.0:0");
    EXPECT_EQ(open.exit_code, 2);
    EXPECT_EQ(open.output.rfind("dmonctl: --listen 0.0.0.0:0 is reachable from other machines: it "
                                "needs --token-file",
                                0),
              0u)
        << open.output;
    auto readable = run_command(kDmonctl + " serve --db " + db_ + " --token-file " +
                                token_file("0123456789abcdef0123", "644"));
    EXPECT_EQ(readable.exit_code, 2);
    EXPECT_NE(readable.output.find("may be read by others (mode 0644): chmod 600 it"),
              std::string::npos)
        << readable.output;
    auto short_token =
        run_command(kDmonctl + " serve --db " + db_ + " --token-file " + token_file("short"));
    EXPECT_EQ(short_token.exit_code, 2);
    EXPECT_NE(short_token.output.find("the token must be 16 characters or more"),
              std::string::npos);
    auto half_tls = run_command(kDmonctl + " serve --db " + db_ + " --tls-cert x.pem");
    EXPECT_EQ(half_tls.exit_code, 2);
    EXPECT_NE(half_tls.output.find("HTTPS needs both --tls-cert and --tls-key"), std::string::npos);
}

TEST_F(ServerTest, ATokenIsNeededAsBearerOrCookieFromTheLoginForm) {
    const std::string token = "s3cret-token-0123456789";
    Server server("--db " + db_ + " --token-file " + token_file(token), folder_);
    ASSERT_NE(server.port(), 0) << server.errors();
    Reply none = get(server.port(), "/api/v1/hosts");
    EXPECT_EQ(none.status, 401);
    EXPECT_EQ(none.body,
              R"({"error":"a token is needed: Authorization: Bearer TOKEN, or log in at /login"})");
    EXPECT_EQ(get(server.port(), "/api/v1/hosts", {{"Authorization", "Bearer wrong"}}).status, 401);
    EXPECT_EQ(get(server.port(), "/api/v1/hosts", {{"Authorization", "Bearer " + token}}).status,
              200);
    // The page itself holds no data: served, and it sends people to /login on a 401.
    EXPECT_EQ(get(server.port(), "/").status, 200);
    Reply form = get(server.port(), "/login");
    EXPECT_EQ(form.status, 200);
    EXPECT_NE(form.body.find("<form method=\"post\" action=\"/login\""), std::string::npos);
    const std::map<std::string, std::string> form_type = {
        {"Content-Type", "application/x-www-form-urlencoded"}};
    EXPECT_EQ(request(server.port(), http::verb::post, "/login", form_type, "token=nope").status,
              401);
    Reply login = request(server.port(), http::verb::post, "/login", form_type,
                          "token=s3cret-token-0123456789");
    EXPECT_EQ(login.status, 303);
    EXPECT_EQ(login.headers["Location"], "/");
    EXPECT_EQ(login.headers["Set-Cookie"],
              "dmon_token=" + token + "; Path=/; HttpOnly; SameSite=Strict");
    EXPECT_EQ(get(server.port(), "/api/v1/hosts", {{"Cookie", "a=b; dmon_token=" + token}}).status,
              200);
    EXPECT_EQ(get(server.port(), "/api/v1/hosts", {{"Cookie", "dmon_token=" + token + "x"}}).status,
              401);
    // Guessing is capped: after ten wrong logins in a minute the form answers 429, even to the
    // right token; the bearer token goes on working.
    for (int i = 0; i < 9; ++i)
        request(server.port(), http::verb::post, "/login", form_type, "token=guess");
    Reply throttled = request(server.port(), http::verb::post, "/login", form_type,
                              "token=s3cret-token-0123456789");
    EXPECT_EQ(throttled.status, 429);
    EXPECT_EQ(throttled.headers["Retry-After"], "60");
    EXPECT_EQ(get(server.port(), "/api/v1/hosts", {{"Authorization", "Bearer " + token}}).status,
              200);
}

TEST_F(ServerTest, ServesHttpsWithACertificateAndKey) {
    const std::string cert = folder_.path("cert.pem"), key = folder_.path("key.pem");
    ASSERT_EQ(run_command("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                          "-nodes -days 1 -subj /CN=localhost -keyout " +
                          key + " -out " + cert)
                  .exit_code,
              0);
    Server server("--db " + db_ + " --tls-cert " + cert + " --tls-key " + key, folder_);
    ASSERT_NE(server.port(), 0) << server.errors();
    Reply hosts = request(server.port(), http::verb::get, "/api/v1/hosts", {}, {}, true);
    EXPECT_EQ(hosts.status, 200);
    EXPECT_EQ(hosts.headers["Strict-Transport-Security"], "max-age=31536000");
    EXPECT_THROW(get(server.port(), "/api/v1/hosts"), std::exception);  // plain HTTP: no answer
    // The server still answers after a client that spoke plain HTTP to it.
    EXPECT_EQ(request(server.port(), http::verb::get, "/", {}, {}, true).status, 200);
}

TEST_F(ServerTest, OversizedAndUnexpectedRequestsAreRefused) {
    Server server("--db " + db_, folder_);
    ASSERT_NE(server.port(), 0) << server.errors();
    EXPECT_EQ(get(server.port(), "/api/v1/hosts", {{"X-Big", std::string(9000, 'a')}}).status, 431);
    EXPECT_EQ(request(server.port(), http::verb::post, "/login", {}, std::string(5000, 'a')).status,
              413);
    EXPECT_EQ(request(server.port(), http::verb::delete_, "/api/v1/hosts").status, 405);
    EXPECT_EQ(request(server.port(), http::verb::post, "/api/v1/hosts").status, 405);
    EXPECT_EQ(get(server.port(), "/api/v1/hosts").status, 200);  // and it goes on serving
}

// Started before the controller made the file: 503 until the store exists, then answers.
TEST_F(ServerTest, AStoreThatIsNotThereYetIs503ThenServed) {
    const std::string later = folder_.path("later.db");
    Server server("--db " + later, folder_);
    ASSERT_NE(server.port(), 0) << server.errors();
    Reply early = get(server.port(), "/api/v1/hosts");
    EXPECT_EQ(early.status, 503);
    EXPECT_EQ(early.body, R"({"error":"the store cannot be opened yet"})");
    std::filesystem::copy_file(db_, later);
    EXPECT_EQ(get(server.port(), "/api/v1/hosts").status, 200);
}

// 50 clients, each on a keep-alive connection, for 10 s: the overview, a host's charts' data
// and the host list over a store of 1,000 hosts. No errors; the figures are in bench/http.sh.
TEST_F(ServerTest, FiftyClientsForTenSecondsOverAThousandHosts) {
    const std::string fleet = folder_.path("fleet.db");
    ASSERT_EQ(run_command(kFleet + " --db " + fleet + " --hosts 1000 --duration 15m --interval 10s")
                  .exit_code,
              0);
    Server server("--db " + fleet + " --threads 2", folder_);
    ASSERT_NE(server.port(), 0) << server.errors();
    const std::vector<std::string> targets = {
        "/api/v1/overview", "/api/v1/hosts",
        "/api/v1/points?metric=system.cpu.utilization&host=web-17&from=now-15m&points=600",
        "/api/v1/points?metric=system.network.io&host=web-500&rate=true&from=now-15m&points=600"};
    std::atomic<int64_t> ok{0}, failed{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    std::mutex mutex;
    std::string first_error;
    for (int c = 0; c < 50; ++c) {
        clients.emplace_back([&, c] {
            try {
                asio::io_context io;
                beast::tcp_stream stream(io);
                stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                             static_cast<unsigned short>(server.port())));
                beast::flat_buffer buffer;
                for (size_t i = c; !stop; ++i) {
                    http::request<http::empty_body> req{http::verb::get,
                                                        targets[i % targets.size()], 11};
                    req.set(http::field::host, "127.0.0.1");
                    http::write(stream, req);
                    http::response<http::string_body> res;
                    http::read(stream, buffer, res);
                    if (res.result_int() == 200 && !res.body().empty()) {
                        ++ok;
                    } else {
                        ++failed;
                        std::lock_guard lock(mutex);
                        if (first_error.empty())
                            first_error = std::to_string(res.result_int()) + " " + res.body();
                    }
                }
            } catch (const std::exception& e) {
                ++failed;
                std::lock_guard lock(mutex);
                if (first_error.empty())
                    first_error = e.what();
            }
        });
    }
    std::this_thread::sleep_for(std::chrono::seconds(10));
    stop = true;
    for (auto& client : clients)
        client.join();
    std::printf(
        "[load] 50 clients, 10 s, 1,000 hosts: %lld requests answered (%.0f/s), %lld "
        "failed\n",
        static_cast<long long>(ok.load()), ok.load() / 10.0, static_cast<long long>(failed.load()));
    EXPECT_EQ(failed.load(), 0) << first_error;
    EXPECT_GT(ok.load(), 50);  // more answers than clients: the server kept up, not one round
    EXPECT_TRUE(server.process().running()) << server.errors();
}

}  // namespace
}  // namespace dmon::test
