// Load generator and raw-rate baseline for bench/controller_ingest.sh.
//
//   dmon_bench_ingest publish URL BATCHES [SERIES]  publish BATCHES messages of 100 samples over
//                                            SERIES series (1000; 100 per host)
//   dmon_bench_ingest raw DB BATCHES         the same rows through the store's writer, no broker
//   dmon_bench_ingest raw-sql DB BATCHES     the same rows with a bare INSERT loop into the row
//                                            store of schema 1 ((series, ts) key)
//   dmon_bench_ingest raw-rowid DB BATCHES   the same with a bare rowid append: SQLite's limit
//   dmon_bench_ingest declare URL QUEUE KEY  a durable queue bound to the exchange
//   dmon_bench_ingest depth URL QUEUE        how many messages wait in QUEUE
#include "amqp_common/publisher.hpp"
#include <dmon/store/store.hpp>

#include <dmon/line_protocol.hpp>

#include <amqp_framing.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <deque>
#include <string>
#include <vector>

namespace {

constexpr int kSamplesPerBatch = 100;
int kSeries = 1000;  // publish SERIES may change it
// A day ago: within what the controller accepts (max_age 7d, max_future 10m) for the few
// thousand rounds a run covers.
const int64_t kBase = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count() -
                      86'400'000'000'000;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Batch b covers series (b*100 .. b*100+99) mod 1000, at round b/10: every series gets one
// sample per round, as 1000 series reported by agents each second would. A batch is one
// host's (100 series each), as an agent's message is: it is published under that host's key.
struct Rows {
    std::vector<std::string> hosts, devices;
    Rows() {
        for (int s = 0; s < kSeries; ++s) {
            hosts.push_back("host-" + std::to_string(s / kSamplesPerBatch));
            devices.push_back("dev" + std::to_string(s % kSamplesPerBatch));
        }
    }
    template <typename Fn>
    void batch(int b, Fn&& fn) const {
        for (int j = 0; j < kSamplesPerBatch; ++j) {
            const int s = (b * kSamplesPerBatch + j) % kSeries;
            const int64_t ts =
                kBase + static_cast<int64_t>(b / (kSeries / kSamplesPerBatch)) * 1'000'000'000;
            fn(hosts[s], devices[s], ts, static_cast<double>(b * 7 + j));
        }
    }
};

dmon::plugins::amqp::ConnectionSettings settings(const std::string& url) {
    dmon::plugins::amqp::ConnectionSettings s;
    s.urls = {url};
    if (const char* file = std::getenv("DMON_AMQP_PASSWORD_FILE"))
        s.password_file = file;
    s.timeout = std::chrono::seconds(30);
    return s;
}

int publish(const std::string& url, int batches) {
    Rows rows;
    dmon::plugins::amqp::Publisher publisher(settings(url), "dmon.metrics");
    std::deque<dmon::plugins::amqp::OutgoingMessage> pending;
    const auto start = Clock::now();
    for (int b = 0; b < batches; ++b) {
        dmon::plugins::amqp::OutgoingMessage message;
        message.message_id = "bench:" + std::to_string(b);
        message.routing_key = "metrics." + rows.hosts[(b * kSamplesPerBatch) % kSeries] + ".load";
        message.samples = kSamplesPerBatch;
        rows.batch(
            b, [&](const std::string& host, const std::string& device, int64_t ts, double value) {
                const dmon_label labels[] = {{{"host", 4}, {host.data(), host.size()}},
                                             {{"device", 6}, {device.data(), device.size()}}};
                const dmon_sample sample{{"bench.value", 11}, labels, 2, value, ts, DMON_COUNTER};
                dmon::line_protocol::append_sample(message.body, sample);
            });
        pending.push_back(std::move(message));
        if (pending.size() == 500 || b + 1 == batches)
            publisher.send(pending);  // confirms per 500
        if ((b + 1) % 1000 == 0)
            std::fprintf(stderr, "[bench]   published %d/%d messages\n", b + 1, batches);
    }
    const double took = seconds_since(start);
    std::printf("%.0f\n", batches * kSamplesPerBatch / took);
    return 0;
}

int raw(const std::string& path, int batches) {
    Rows rows;
    dmon::store::SampleWriter writer({path, std::chrono::nanoseconds(0), true});
    std::vector<dmon_sample> samples;
    std::vector<std::array<dmon_label, 2>> labels;
    const auto start = Clock::now();
    // Same shape as the controller's writes: 20000 samples per transaction.
    for (int b = 0; b < batches;) {
        samples.clear();
        labels.clear();
        labels.reserve(20000);
        for (int k = 0; k < 200 && b < batches; ++k, ++b) {
            rows.batch(b, [&](const std::string& host, const std::string& device, int64_t ts,
                              double value) {
                labels.push_back({dmon_label{{"host", 4}, {host.data(), host.size()}},
                                  dmon_label{{"device", 6}, {device.data(), device.size()}}});
                samples.push_back(
                    {{"bench.value", 11}, labels.back().data(), 2, value, ts, DMON_COUNTER});
            });
        }
        const dmon_batch batch{sizeof(dmon_batch),  samples.data(), samples.size(),
                               sizeof(dmon_sample), nullptr,        0};
        writer.write(batch);
    }
    std::printf("%.0f\n", batches * kSamplesPerBatch / seconds_since(start));
    return 0;
}

// The row store dmon had before chunks (schema 1): one B-tree row per sample keyed by
// (series, ts). `rowid`: a bare append to a rowid table instead, the cheapest SQLite insert.
int raw_sql(const std::string& path, int batches, bool rowid) {
    using namespace dmon::store;
    Database db(path, true);
    db.exec("PRAGMA journal_mode=WAL");
    db.exec("PRAGMA synchronous=FULL");
    db.exec("PRAGMA cache_size=-65536");  // the same settings as the store's writer
    db.exec(rowid ? "CREATE TABLE samples(series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value "
                    "REAL NOT NULL)"
                  : "CREATE TABLE samples(series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value "
                    "REAL NOT NULL, PRIMARY KEY(series_id, ts)) WITHOUT ROWID");
    auto insert = db.prepare("INSERT INTO samples(series_id, ts, value) VALUES(?, ?, ?)");
    const auto start = Clock::now();
    for (int b = 0; b < batches;) {
        Transaction transaction(db);
        for (int k = 0; k < 200 && b < batches; ++k, ++b) {
            for (int j = 0; j < kSamplesPerBatch; ++j) {
                const int s = (b * kSamplesPerBatch + j) % kSeries;
                insert.reset();
                insert.bind(0, int64_t{s + 1})
                    .bind(1, kBase + int64_t{b / 10} * 1'000'000'000)
                    .bind(2, double(b * 7 + j))
                    .step();
            }
        }
        transaction.commit();
    }
    std::printf("%.0f\n", batches * kSamplesPerBatch / seconds_since(start));
    return 0;
}

int declare(const std::string& url, const std::string& queue, const std::string& key,
            bool passive) {
    dmon::plugins::amqp::Connection connection(settings(url), 0);
    amqp_exchange_declare(connection.state(), 1, amqp_cstring_bytes("dmon.metrics"),
                          amqp_cstring_bytes("topic"), 0, 1, 0, 0, amqp_empty_table);
    connection.check("declaring the exchange");
    auto* ok = amqp_queue_declare(connection.state(), 1, amqp_cstring_bytes(queue.c_str()),
                                  passive ? 1 : 0, 1, 0, 0, amqp_empty_table);
    connection.check("declaring " + queue);
    if (!passive) {
        amqp_queue_bind(connection.state(), 1, amqp_cstring_bytes(queue.c_str()),
                        amqp_cstring_bytes("dmon.metrics"), amqp_cstring_bytes(key.c_str()),
                        amqp_empty_table);
        connection.check("binding " + queue);
    } else {
        std::printf("%u\n", ok->message_count);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    try {
        if ((args.size() == 3 || args.size() == 4) && args[0] == "publish") {
            if (args.size() == 4)
                kSeries = std::stoi(args[3]);
            return publish(args[1], std::stoi(args[2]));
        }
        if (args.size() == 3 && args[0] == "raw")
            return raw(args[1], std::stoi(args[2]));
        if (args.size() == 3 && args[0] == "raw-sql")
            return raw_sql(args[1], std::stoi(args[2]), false);
        if (args.size() == 3 && args[0] == "raw-rowid")
            return raw_sql(args[1], std::stoi(args[2]), true);
        if (args.size() == 4 && args[0] == "declare")
            return declare(args[1], args[2], args[3], false);
        if (args.size() == 3 && args[0] == "depth")
            return declare(args[1], args[2], "", true);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "usage: see the top of bench/ingest_load.cpp\n");
    return 2;
}
