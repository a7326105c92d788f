// The Prometheus sinks against Debian's real Prometheus, started here on loopback with its state
// in a temp folder: it scrapes an agent's /metrics (with a bearer token, as OpenMetrics) and
// receives remote writes; stopped for 10 s mid-stream it loses and doubles nothing; a request
// it refuses (400) is dropped, counted and logged once.
#include "../host/test_support.hpp"
#include "../integration/process.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <cmath>
#include <functional>
#include <map>
#include <thread>

namespace dmon::test {
namespace {
using namespace std::chrono_literals;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = boost::asio::ip::tcp;

const std::string kSource = DMON_SOURCE_DIR;
const std::string kDmon = DMON_BINARY;
const std::string kPlugins = DMON_PLUGIN_DIR;
const std::string kTestPlugins = DMON_TEST_PLUGIN_DIR;
// DMON_TEST_PROMETHEUS_PORT moves both (PORT and PORT+1), to run beside another run.
int base_port() {
    const char* text = std::getenv("DMON_TEST_PROMETHEUS_PORT");
    return text != nullptr ? std::atoi(text) : 19390;
}
const int kPrometheusPort = base_port();
const int kScrapePort = base_port() + 1;

struct HttpAnswer {
    int status = 0;
    std::string content_type;
    std::string body;
};

HttpAnswer http_get(int port, const std::string& target,
                    const std::map<std::string, std::string>& headers = {}) {
    HttpAnswer answer;
    try {
        boost::asio::io_context io;
        beast::tcp_stream stream(io);
        stream.expires_after(10s);
        stream.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                     static_cast<unsigned short>(port)));
        bhttp::request<bhttp::empty_body> request{bhttp::verb::get, target, 11};
        request.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port));
        for (const auto& [name, value] : headers)
            request.set(name, value);
        bhttp::write(stream, request);
        beast::flat_buffer buffer;
        bhttp::response<bhttp::string_body> response;
        bhttp::read(stream, buffer, response);
        answer.status = response.result_int();
        answer.content_type = std::string(response[bhttp::field::content_type]);
        answer.body = response.body();
    } catch (const std::exception&) {
        answer.status = -1;  // not listening (yet)
    }
    return answer;
}

std::string url_encode(const std::string& text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

bool wait_for(const std::function<bool()>& condition, std::chrono::seconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
        if (condition())
            return true;
        std::this_thread::sleep_for(250ms);
    }
    return condition();
}

// One Prometheus for the whole suite; the outage test stops and restarts it.
class PrometheusTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        folder_ = new TempFolder();
        token_ = folder_->file("token", "dmon-test-token-0123456789abcdef\n");
        std::filesystem::permissions(
            token_, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
        folder_->file("prometheus.yml",
                      "global:\n"
                      "  scrape_interval: 1s\n"
                      "scrape_configs:\n"
                      "  - job_name: dmon\n"
                      "    authorization:\n"
                      "      credentials_file: " +
                          token_ +
                          "\n"
                          "    static_configs:\n"
                          "      - targets: ['127.0.0.1:" +
                          std::to_string(kScrapePort) + "']\n");
        start_prometheus();
    }
    static void TearDownTestSuite() {
        prometheus_.reset();
        delete folder_;
        folder_ = nullptr;
    }

    static void start_prometheus() {
        prometheus_ = std::make_unique<Process>(
            "prometheus --config.file=" + folder_->path("prometheus.yml") +
            " --storage.tsdb.path=" + folder_->path("prometheus-data") +
            " --web.listen-address=127.0.0.1:" + std::to_string(kPrometheusPort) +
            " --web.enable-remote-write-receiver >>" + folder_->path("prometheus.log") + " 2>&1");
        ASSERT_TRUE(
            wait_for([] { return http_get(kPrometheusPort, "/-/ready").status == 200; }, 60s))
            << read_text(folder_->path("prometheus.log"));
    }
    static void stop_prometheus() {
        prometheus_->signal(SIGTERM);
        prometheus_->wait();
        prometheus_.reset();
    }

    // /api/v1/query: the "result" array (empty when the query failed).
    static nlohmann::json query(const std::string& promql) {
        const HttpAnswer answer =
            http_get(kPrometheusPort, "/api/v1/query?query=" + url_encode(promql));
        if (answer.status != 200)
            return nlohmann::json::array();
        const auto json = nlohmann::json::parse(answer.body, nullptr, false);
        if (json.is_discarded() || !json.contains("data"))
            return nlohmann::json::array();
        return json["data"]["result"];
    }
    static std::optional<double> scalar(const std::string& promql) {
        const auto result = query(promql);
        if (result.size() != 1)
            return std::nullopt;
        return std::stod(result[0]["value"][1].get<std::string>());
    }

    std::unique_ptr<Process> start_dmon(const std::string& name, const std::string& body) {
        const std::string config =
            folder_->file(name + ".yaml", "node: " + name +
                                              "\n"
                                              "interval: 1s\n"
                                              "control: " +
                                              folder_->path(name + ".sock") +
                                              "\n"
                                              "plugin_paths: [" +
                                              kPlugins + ", " + kTestPlugins + "]\n" + body);
        return std::make_unique<Process>(kDmon + " run --config " + config + " >>" +
                                         folder_->path(name + ".log") + " 2>&1");
    }

    static TempFolder* folder_;
    static std::string token_;
    static std::unique_ptr<Process> prometheus_;
};
TempFolder* PrometheusTest::folder_ = nullptr;
std::string PrometheusTest::token_;
std::unique_ptr<Process> PrometheusTest::prometheus_;

double mem_total_bytes() {
    std::istringstream in(read_text("/proc/meminfo"));
    std::string key;
    double kib = 0;
    while (in >> key >> kib) {
        if (key == "MemTotal:")
            return kib * 1024;
        in.ignore(1 << 10, '\n');
    }
    return -1;
}

TEST_F(PrometheusTest, ARealPrometheusScrapesTheAgent) {
    auto agent = start_dmon("prom-scrape",
                            "collectors:\n"
                            "  - plugin: proc_cpu\n"
                            "    interval: 1s\n"
                            "  - plugin: proc_mem\n"
                            "    interval: 1s\n"
                            "  - plugin: proc_net\n"
                            "    interval: 1s\n"
                            "    exclude: []\n"
                            "sinks:\n"
                            "  - plugin: prometheus\n"
                            "    listen: 127.0.0.1:" +
                                std::to_string(kScrapePort) +
                                "\n"
                                "    bearer_token_file: " +
                                token_ + "\n");
    const std::string auth = "Bearer dmon-test-token-0123456789abcdef";
    ASSERT_TRUE(wait_for(
        [&] {
            return http_get(kScrapePort, "/metrics", {{"Authorization", auth}})
                       .body.find("system_cpu_utilization_ratio") != std::string::npos;
        },
        20s))
        << read_text(folder_->path("prom-scrape.log"));

    // Without the token, or with a wrong one: 401. Another path: 404.
    EXPECT_EQ(http_get(kScrapePort, "/metrics").status, 401);
    EXPECT_EQ(http_get(kScrapePort, "/metrics", {{"Authorization", "Bearer wrong"}}).status, 401);
    EXPECT_EQ(http_get(kScrapePort, "/other", {{"Authorization", auth}}).status, 404);

    // The text format passes Prometheus' own checker (promtool lints names, HELP and types).
    const HttpAnswer text = http_get(kScrapePort, "/metrics", {{"Authorization", auth}});
    EXPECT_EQ(text.content_type, "text/plain; version=0.0.4; charset=utf-8");
    const std::string saved = folder_->file("exposition.txt", text.body);
    const CommandResult check = run_command("promtool check metrics < " + saved);
    EXPECT_EQ(check.exit_code, 0) << check.output;
    EXPECT_EQ(check.output, "") << "promtool's lint found something";
    // OpenMetrics when asked for it, as Prometheus does.
    const HttpAnswer open_metrics = http_get(
        kScrapePort, "/metrics",
        {{"Authorization", auth}, {"Accept", "application/openmetrics-text;version=1.0.0"}});
    EXPECT_EQ(open_metrics.content_type,
              "application/openmetrics-text; version=1.0.0; charset=utf-8");
    EXPECT_TRUE(open_metrics.body.ends_with("# EOF\n"));
    EXPECT_NE(open_metrics.body.find("# UNIT system_memory_limit_bytes bytes\n"),
              std::string::npos);

    // Prometheus scraped it (with the token, as OpenMetrics): MemTotal, exactly.
    std::optional<double> limit;
    ASSERT_TRUE(wait_for(
        [&] {
            limit = scalar("system_memory_limit_bytes{host=\"prom-scrape\",job=\"dmon\"}");
            return limit.has_value();
        },
        30s))
        << read_text(folder_->path("prometheus.log"));
    EXPECT_EQ(*limit, mem_total_bytes());
    // CPU seconds per second over all states of all CPUs: the number of CPUs.
    std::optional<double> cpus;
    const std::string rate =
        "sum(rate(system_cpu_time_seconds_total{host=\"prom-scrape\",cpu=\"total\",job=\"dmon\"}"
        "[5s]))";
    // As /proc/stat counts them (a container's CPU set may be smaller than what it lists).
    double online = 0;
    std::istringstream stat(read_text("/proc/stat"));
    for (std::string line; std::getline(stat, line);)
        if (line.size() > 3 && line.rfind("cpu", 0) == 0 && std::isdigit(line[3]))
            ++online;
    // The first rates after the agent starts are over a window with only two or three scrapes
    // (CI saw 0.8 of 2 CPUs once): wait for a window that is full rather than judge the first.
    wait_for(
        [&] {
            cpus = scalar(rate);
            return cpus.has_value() && *cpus > 0.5 * online && *cpus < 1.5 * online;
        },
        30s);
    ASSERT_TRUE(cpus.has_value()) << rate;
    EXPECT_GT(*cpus, 0.5 * online) << rate;
    EXPECT_LT(*cpus, 1.5 * online) << rate;

    // Every query of the shipped Grafana dashboard is valid PromQL over these names, and those
    // of the metrics this agent collects find its series (Grafana itself is not run here).
    std::this_thread::sleep_for(2s);  // two scrapes more: rates over [1m] have their points
    const auto dashboard =
        nlohmann::json::parse(read_text(kSource + "/docs/grafana/dmon-hosts.json"));
    size_t queries = 0;
    for (const auto& panel : dashboard["panels"]) {
        if (!panel.contains("targets"))
            continue;
        for (const auto& target : panel["targets"]) {
            std::string expr = target["expr"];
            for (const auto& [from, to] :
                 {std::pair<std::string, std::string>{"$host", "prom-scrape"},
                  {"$__rate_interval", "1m"}}) {
                for (size_t at = expr.find(from); at != std::string::npos; at = expr.find(from))
                    expr.replace(at, from.size(), to);
            }
            const HttpAnswer answer =
                http_get(kPrometheusPort, "/api/v1/query?query=" + url_encode(expr));
            EXPECT_EQ(answer.status, 200) << panel["title"] << ": " << expr << "\n" << answer.body;
            const auto json = nlohmann::json::parse(answer.body, nullptr, false);
            ASSERT_FALSE(json.is_discarded()) << answer.body;
            const bool collected = expr.find("system_cpu") != std::string::npos ||
                                   expr.find("system_memory") != std::string::npos ||
                                   expr.find("system_network_io") != std::string::npos ||
                                   expr.find("process_") != std::string::npos ||
                                   expr.find("dmon_sink_dropped") != std::string::npos;
            if (collected) {
                EXPECT_FALSE(json["data"]["result"].empty())
                    << panel["title"] << ": no series for " << expr;
            }
            ++queries;
        }
    }
    EXPECT_GE(queries, 15u);
    agent->signal(SIGTERM);
    EXPECT_EQ(agent->wait(), 0) << read_text(folder_->path("prom-scrape.log"));
}

// What the stdout sink recorded of one series: (timestamp ms, value), in order.
std::vector<std::pair<int64_t, double>> recorded(const std::string& path, const std::string& name) {
    std::vector<std::pair<int64_t, double>> points;
    std::istringstream in(read_text(path));
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(name + ",", 0) != 0)
            continue;
        // test.rounds,host=prom-rw counter=5 1732468800123456789
        const size_t space = line.find(' ');
        const size_t last = line.rfind(' ');
        const std::string field = line.substr(space + 1, last - space - 1);
        const double value = std::stod(field.substr(field.find('=') + 1));
        points.emplace_back(std::stoll(line.substr(last + 1)) / 1000000, value);
    }
    return points;
}

// Prometheus' raw samples of a selector over the last 10 minutes: (timestamp ms, value).
std::vector<std::pair<int64_t, double>> stored(const nlohmann::json& result) {
    std::vector<std::pair<int64_t, double>> points;
    if (result.size() != 1)
        return points;
    for (const auto& pair : result[0]["values"])
        points.emplace_back(std::llround(pair[0].get<double>() * 1000),
                            std::stod(pair[1].get<std::string>()));
    return points;
}

TEST_F(PrometheusTest, RemoteWriteLosesAndDoublesNothingAcrossATenSecondOutage) {
    const std::string record = folder_->path("rw-record.lp");
    auto agent = start_dmon("prom-rw",
                            "self_metrics: false\n"
                            "collectors:\n"
                            "  - plugin: test_counter\n"
                            "    interval: 500ms\n"
                            "sinks:\n"
                            "  - plugin: prometheus_remote_write\n"
                            "    url: http://127.0.0.1:" +
                                std::to_string(kPrometheusPort) +
                                "/api/v1/write\n"
                                "    flush_interval: 200ms\n"
                                "    timeout: 2s\n"
                                "  - plugin: stdout\n"
                                "    path: " +
                                record + "\n");
    const std::string series = "test_rounds_total{host=\"prom-rw\"}";
    auto count = [&] { return scalar("count_over_time(" + series + "[10m])").value_or(0); };
    ASSERT_TRUE(wait_for([&] { return count() >= 4; }, 30s))
        << read_text(folder_->path("prom-rw.log"));

    stop_prometheus();
    const size_t before_outage = recorded(record, "test.rounds").size();
    std::this_thread::sleep_for(10s);
    const size_t during_outage = recorded(record, "test.rounds").size() - before_outage;
    start_prometheus();
    if (HasFatalFailure())
        return;
    // The rounds of the outage arrive once it is back; then the agent stops (and drains).
    ASSERT_TRUE(wait_for(
        [&] { return count() >= static_cast<double>(before_outage + during_outage + 2); }, 60s))
        << read_text(folder_->path("prom-rw.log"));
    agent->signal(SIGTERM);
    EXPECT_EQ(agent->wait(), 0) << read_text(folder_->path("prom-rw.log"));
    EXPECT_GE(during_outage, 15u);  // 10 s of rounds every 500 ms were held back and sent later

    const auto sent = recorded(record, "test.rounds");
    ASSERT_GE(sent.size(), 20u);
    for (size_t i = 0; i < sent.size(); ++i)
        ASSERT_EQ(sent[i].second, static_cast<double>(i + 1)) << "the collector's own record";
    // Exact values and timestamps, each once: the raw samples of the series (a range selector
    // returns what is stored, not steps), against what the agent recorded at collection.
    std::vector<std::pair<int64_t, double>> in_prometheus;
    ASSERT_TRUE(wait_for(
        [&] {
            in_prometheus = stored(query(series + "[10m]"));
            return in_prometheus.size() >= sent.size();
        },
        20s));
    EXPECT_EQ(in_prometheus, sent);
    // And through query_range, as a dashboard asks, at 1 s steps: each step's value is exactly
    // the newest sample at or before it.
    const HttpAnswer range = http_get(
        kPrometheusPort, "/api/v1/query_range?query=" + url_encode(series) +
                             "&start=" + std::to_string(sent.front().first / 1000.0) +
                             "&end=" + std::to_string(sent.back().first / 1000.0) + "&step=1");
    ASSERT_EQ(range.status, 200) << range.body;
    const auto steps = stored(nlohmann::json::parse(range.body)["data"]["result"]);
    ASSERT_GE(steps.size(), sent.size() / 2 - 1);
    for (const auto& [timestamp, value] : steps) {
        double expected = -1;
        for (const auto& [sent_at, sent_value] : sent)
            if (sent_at <= timestamp)
                expected = sent_value;
        EXPECT_EQ(value, expected) << "step at " << timestamp << " ms";
    }
    // The outage was seen and logged, and recovered from.
    const std::string log = read_text(folder_->path("prom-rw.log"));
    EXPECT_NE(log.find("[prometheus_remote_write]"), std::string::npos) << log;
}

TEST_F(PrometheusTest, ARefusedRequestIsDroppedCountedAndLoggedOnce) {
    const std::string record = folder_->path("refused-record.lp");
    auto agent = start_dmon("prom-400",
                            "collectors:\n"
                            "  - plugin: test_fixed_time\n"
                            "    interval: 300ms\n"
                            "sinks:\n"
                            "  - plugin: prometheus_remote_write\n"
                            "    name: rw\n"
                            "    url: http://127.0.0.1:" +
                                std::to_string(kPrometheusPort) +
                                "/api/v1/write\n"
                                "    flush_interval: 100ms\n"
                                "  - plugin: stdout\n"
                                "    path: " +
                                record + "\n");
    // The first round is stored; every later one has the same timestamp and another value, which
    // Prometheus refuses with a 400: dropped and counted by the host, not retried.
    auto refused = [&] {
        // dmon.sink.dropped,host=prom-400,instance=rw,plugin=prometheus_remote_write,reason=refused
        double latest = 0;
        std::istringstream in(read_text(record));
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("dmon.sink.dropped,", 0) == 0 &&
                line.find("instance=rw,") != std::string::npos &&
                line.find("reason=refused") != std::string::npos)
                latest = std::stod(line.substr(line.find('=', line.find(' ')) + 1));
        }
        return latest;
    };
    ASSERT_TRUE(wait_for([&] { return refused() >= 5; }, 30s))
        << read_text(folder_->path("prom-400.log"));
    EXPECT_EQ(stored(query("test_fixed{host=\"prom-400\"}[10m]")),
              (std::vector<std::pair<int64_t, double>>{
                  {recorded(record, "test.fixed").front().first, 1.0}}));
    agent->signal(SIGTERM);
    EXPECT_EQ(agent->wait(), 0);
    const std::string log = read_text(folder_->path("prom-400.log"));
    // One line with the server's reason; none after it (a line a minute at most); nothing left
    // undelivered at shutdown (a retried batch would still be waiting).
    size_t lines = 0;
    for (size_t at = log.find("the receiver refused"); at != std::string::npos;
         at = log.find("the receiver refused", at + 1))
        ++lines;
    EXPECT_EQ(lines, 1u) << log;
    EXPECT_NE(log.find("HTTP 400"), std::string::npos) << log;
    EXPECT_NE(log.find("duplicate sample for timestamp"), std::string::npos) << log;
    EXPECT_EQ(log.find("not written"), std::string::npos) << log;
    EXPECT_EQ(log.find("retrying"), std::string::npos) << log;
}

}  // namespace
}  // namespace dmon::test

namespace dmon::test {
namespace {

// Basic authentication on the prometheus sink (Prometheus' scrape above uses the bearer token),
// and the entries that are refused before anything starts.
TEST_F(PrometheusTest, BasicAuthenticationAndRefusedEntries) {
    const std::string password = folder_->file("scrape.password", "correct horse battery\n");
    std::filesystem::permissions(
        password, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    auto agent = start_dmon("prom-basic",
                            "collectors:\n"
                            "  - plugin: proc_mem\n"
                            "sinks:\n"
                            "  - plugin: prometheus\n"
                            "    listen: 127.0.0.1:" +
                                std::to_string(kScrapePort) +
                                "\n"
                                "    basic_auth_user: scraper\n"
                                "    basic_auth_password_file: " +
                                password + "\n");
    const std::map<std::string, std::string> right{
        {"Authorization", "Basic c2NyYXBlcjpjb3JyZWN0IGhvcnNlIGJhdHRlcnk="}};  // scraper:correct...
    ASSERT_TRUE(wait_for(
        [&] {
            return http_get(kScrapePort, "/metrics", right)
                       .body.find("system_memory_limit_bytes{") != std::string::npos;
        },
        20s))
        << read_text(folder_->path("prom-basic.log"));
    EXPECT_EQ(
        http_get(kScrapePort, "/metrics", {{"Authorization", "Basic c2NyYXBlcjp3cm9uZw=="}}).status,
        401);  // scraper:wrong
    EXPECT_EQ(http_get(kScrapePort, "/metrics", {{"Authorization", "Basic !!!"}}).status, 401);

    // A hot reload that changes the entry: the new instance binds beside the old one (its own
    // process's), and scrapes go on.
    const std::string config = folder_->path("prom-basic.yaml");
    folder_->file("prom-basic.yaml", read_text(config) + "    expire: 10m\n");
    const CommandResult reload = run_command(std::string(DMONCTL_BINARY) + " reload --control " +
                                             folder_->path("prom-basic.sock"));
    EXPECT_EQ(reload.exit_code, 0) << reload.output;
    EXPECT_NE(reload.output.find("changed: prometheus"), std::string::npos) << reload.output;
    EXPECT_TRUE(wait_for(
        [&] {
            return http_get(kScrapePort, "/metrics", right)
                       .body.find("system_memory_limit_bytes{") != std::string::npos;
        },
        20s))
        << read_text(folder_->path("prom-basic.log"));
    agent->signal(SIGTERM);
    EXPECT_EQ(agent->wait(), 0);

    // The sink refuses to start, with the reason: another address without credentials, half a
    // basic pair, both kinds at once, a password file others may read. (`dmon check` checks
    // option types; a plugin's own rules run when it is created.)
    std::filesystem::permissions(password, std::filesystem::perms::group_read,
                                 std::filesystem::perm_options::add);
    const std::vector<std::pair<std::string, std::string>> refused{
        {"    listen: 0.0.0.0:0\n", "is reachable from other machines"},
        {"    basic_auth_user: scraper\n", "go together"},
        {"    bearer_token_file: " + token_ +
             "\n    basic_auth_user: scraper\n"
             "    basic_auth_password_file: " +
             token_ + "\n",
         "not both"},
        {"    basic_auth_user: scraper\n    basic_auth_password_file: " + password + "\n",
         "may be read by others"},
        // Prometheus holds its port: SO_REUSEPORT must not let the sink share it in silence.
        {"    listen: 127.0.0.1:" + std::to_string(kPrometheusPort) + "\n",
         "another program already listens there"},
    };
    for (const auto& [entry, reason] : refused) {
        const std::string config = folder_->file(
            "refused.yaml", "node: refused\ncontrol: " + folder_->path("refused.sock") +
                                "\nplugin_paths: [" + kPlugins +
                                "]\ncollectors:\n  - plugin: proc_mem\nsinks:\n  - plugin: "
                                "prometheus\n" +
                                entry);
        const CommandResult check = run_command("timeout 20 " + kDmon + " run --config " + config);
        EXPECT_NE(check.exit_code, 0) << entry;
        EXPECT_NE(check.exit_code, 124) << entry << ": still running after 20 s";
        EXPECT_NE(check.output.find(reason), std::string::npos) << entry << check.output;
    }
}

}  // namespace
}  // namespace dmon::test

namespace dmon::test {
namespace {

// On a controller: two agents (the shipped agent config) publish through a real RabbitMQ; the
// controller consumes and forwards every agent's samples to Prometheus by remote write, beside
// its SQLite store. Prometheus has each agent's series under its own host.
TEST_F(PrometheusTest, AControllerForwardsEveryAgentBySeriesOfItsHost) {
    const int broker_port = 5693;
    const std::string broker = "DMON_BROKER_PORT=" + std::to_string(broker_port) +
                               " DMON_BROKER_DIR=" + folder_->path("broker") + " bash " + kSource +
                               "/scripts/broker.sh ";
    const CommandResult started = run_command(broker + "start");
    ASSERT_EQ(started.exit_code, 0) << started.output;
    struct StopBroker {
        std::string command;
        ~StopBroker() { run_command(command); }
    } stop_broker{broker + "stop"};
    const std::string password = folder_->file("amqp.password", "guest\n");
    std::filesystem::permissions(
        password, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    const std::string url = "amqp://guest@127.0.0.1:" + std::to_string(broker_port) + "/";
    auto controller = start_dmon("prom-controller",
                                 "self_metrics: false\n"
                                 "collectors:\n"
                                 "  - plugin: amqp_consume\n"
                                 "    interval: 100ms\n"
                                 "    url: " +
                                     url + "\n    password_file: " + password +
                                     "\n"
                                     "sinks:\n"
                                     "  - plugin: sqlite_store\n"
                                     "    path: " +
                                     folder_->path("controller.db") +
                                     "\n"
                                     "  - plugin: prometheus_remote_write\n"
                                     "    url: http://127.0.0.1:" +
                                     std::to_string(kPrometheusPort) +
                                     "/api/v1/write\n"
                                     "    flush_interval: 200ms\n");
    ASSERT_TRUE(wait_for(
        [&] {
            return read_text(folder_->path("prom-controller.log")).find("consuming") !=
                   std::string::npos;
        },
        30s))
        << read_text(folder_->path("prom-controller.log"));
    std::vector<std::unique_ptr<Process>> agents;
    for (const std::string node : {"agent-a", "agent-b"}) {
        agents.push_back(std::make_unique<Process>(
            "env DMON_AMQP_URL=" + url + " DMON_AMQP_PASSWORD_FILE=" + password + " DMON_SPOOL=" +
            folder_->path(node + ".spool") + " DMON_CONTROL=" + folder_->path(node + ".sock") +
            " " + kDmon + " run --config " + kSource + "/config/agent.yaml --node " + node + " >>" +
            folder_->path(node + ".log") + " 2>&1"));
    }
    for (const std::string node : {"agent-a", "agent-b"}) {
        std::optional<double> limit;
        EXPECT_TRUE(wait_for(
            [&] {
                limit = scalar("system_memory_limit_bytes{host=\"" + node + "\"}");
                return limit.has_value();
            },
            30s))
            << node << "\n"
            << read_text(folder_->path("prom-controller.log"))
            << read_text(folder_->path(node + ".log"));
        if (limit)
            EXPECT_EQ(*limit, mem_total_bytes()) << node;
        // And the agent's own health, by its host too.
        EXPECT_TRUE(wait_for(
            [&] {
                return scalar("sum(dmon_sink_samples_total{host=\"" + node +
                              "\",instance=\"amqp_publish\"})")
                           .value_or(0) > 0;
            },
            30s))
            << node;
    }
    for (auto& agent : agents) {
        agent->signal(SIGTERM);
        EXPECT_EQ(agent->wait(), 0);
    }
    controller->signal(SIGTERM);
    EXPECT_EQ(controller->wait(), 0) << read_text(folder_->path("prom-controller.log"));
}

}  // namespace
}  // namespace dmon::test
