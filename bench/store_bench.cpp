// The store's own figures for bench/store.sh: the writer without a broker, bytes per sample on
// agent-shaped and random data, and read latencies, each against a baseline in the same run.
//
//   dmon_bench_store writer DB SERIES POINTS       agent-like points through the store's writer
//                                                  (head appends and seals), samples/s
//   dmon_bench_store shape DB MODE HOSTS POINTS REC   MODE agent | jitter | random: HOSTS hosts of
//                                                  the recorded agent REC (line protocol), POINTS
//                                                  per series; sealed; prints bytes per sample
//   dmon_bench_store day DB ROWS_DB                one series of 24 h at 1 s into DB (chunks) and
//                                                  into ROWS_DB (schema 1 rows), plus the latest
//                                                  rows of DB's series into ROWS_DB
//   dmon_bench_store read DB ROWS_DB               query 24 h, --step 1m, latest: ms, both stores
#include <dmon/store/store.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using dmon::store::Database;
using dmon::store::SampleWriter;
constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kT0 = 1'789'999'980'000'000'000;  // a whole minute: 1,440 buckets a day

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// One series' identity, built once: the samples of a batch point at it.
struct SeriesId {
    std::string host, name;
    std::vector<std::pair<std::string, std::string>> owned;
    std::vector<dmon_label> labels;
    dmon_sample_type type = DMON_GAUGE;
    SeriesId(std::string h, std::string n, std::vector<std::pair<std::string, std::string>> l,
             dmon_sample_type t)
        : host(std::move(h)), name(std::move(n)), owned(std::move(l)), type(t) {
        owned.insert(owned.begin(), {"host", host});
        for (const auto& [k, v] : owned)
            labels.push_back({{k.data(), k.size()}, {v.data(), v.size()}});
    }
    SeriesId(const SeriesId&) = delete;
};

// Samples handed to the writer in batches of 20,000, as the controller's runner hands them,
// sealed when due as the sink does.
class Batcher {
  public:
    explicit Batcher(SampleWriter& writer) : writer_(writer) { samples_.reserve(20000); }
    void add(const SeriesId& series, double value, int64_t ts) {
        samples_.push_back({{series.name.data(), series.name.size()},
                            series.labels.data(),
                            series.labels.size(),
                            value,
                            ts,
                            static_cast<uint32_t>(series.type)});
        if (samples_.size() == 20000)
            flush();
    }
    void flush() {
        if (!samples_.empty()) {
            const dmon_batch batch{sizeof(dmon_batch),  samples_.data(), samples_.size(),
                                   sizeof(dmon_sample), nullptr,         0};
            writer_.write(batch);
            const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
            if (writer_.seal_due(now))
                writer_.seal();
        }
        samples_.clear();
    }

  private:
    SampleWriter& writer_;
    std::vector<dmon_sample> samples_;
};

SampleWriter::Settings settings(const std::string& path, bool full_sync) {
    SampleWriter::Settings s{path, std::chrono::nanoseconds(0), full_sync};
    s.max_series_per_host = 0;
    s.max_series = 0;
    s.series_cache = 1'000'000;
    return s;
}

// `series` series over 1000 hosts, `points` rounds of 1 s: counters that grow by varying steps.
int writer(const std::string& path, int series, int points) {
    SampleWriter writer(settings(path, true));
    Batcher batcher(writer);
    const auto start = Clock::now();
    std::deque<SeriesId> ids;
    for (int s = 0; s < series; ++s) {
        ids.emplace_back("host-" + std::to_string(s % 1000), "bench.value",
                         std::vector<std::pair<std::string, std::string>>{
                             {"device", "dev" + std::to_string(s / 1000)}},
                         DMON_COUNTER);
    }
    for (int p = 0; p < points; ++p) {
        for (int s = 0; s < series; ++s)
            batcher.add(ids[s], static_cast<double>(p * (s % 97 + 1) + (p * 7919 + s) % 13),
                        kT0 + p * kSecond);
    }
    batcher.flush();
    writer.seal();
    std::printf("%.0f\n", static_cast<double>(series) * points / seconds_since(start));
    return 0;
}

// A recorded agent: per series, its name, labels, type, values and timestamps in order.
struct Recorded {
    std::string name;
    std::vector<std::pair<std::string, std::string>> labels;
    dmon_sample_type type = DMON_GAUGE;
    std::vector<double> values;
    std::vector<int64_t> timestamps;
};

std::vector<Recorded> read_recording(const std::string& file) {
    std::ifstream in(file);
    std::map<std::string, Recorded> by_key;
    std::string line;
    while (std::getline(in, line)) {
        const auto last = line.rfind(' ');
        const auto mid = line.rfind(' ', last - 1);
        if (last == std::string::npos || mid == std::string::npos)
            continue;
        const std::string key = line.substr(0, mid);
        const std::string field = line.substr(mid + 1, last - mid - 1);
        const auto eq = field.find('=');
        Recorded& r = by_key[key];
        if (r.name.empty()) {
            size_t at = key.find(',');
            r.name = key.substr(0, at);
            while (at != std::string::npos) {
                const size_t next = key.find(',', at + 1);
                const std::string tag = key.substr(at + 1, next - at - 1);
                const auto e = tag.find('=');
                if (tag.substr(0, e) != "host")
                    r.labels.push_back({tag.substr(0, e), tag.substr(e + 1)});
                at = next;
            }
            r.type = field.substr(0, eq) == "counter" ? DMON_COUNTER : DMON_GAUGE;
        }
        r.values.push_back(std::stod(field.substr(eq + 1)));
        r.timestamps.push_back(std::stoll(line.substr(last + 1)));
    }
    std::vector<Recorded> out;
    for (auto& [key, r] : by_key) {
        if (r.values.size() >= 3)
            out.push_back(std::move(r));
    }
    return out;
}

// The recording replayed for longer than it lasts: counters go on by the recorded steps, in
// a cycle; gauges play forward and back (no jump at the seam). Host h starts at another place
// in the recording, so hosts are not copies of each other.
double replayed(const Recorded& r, int host, int point) {
    const int n = static_cast<int>(r.values.size());
    const int at = (point + host * 7) % (2 * n - 2);
    if (r.type != DMON_COUNTER)
        return r.values[at < n ? at : 2 * n - 2 - at];
    double value = r.values[host % n];
    for (int i = 0; i < point; ++i) {
        const int k = (host + i) % (n - 1);
        value += std::max(0.0, r.values[k + 1] - r.values[k]);
    }
    return value;
}

int shape(const std::string& path, const std::string& mode, int hosts, int points,
          const std::string& recording) {
    std::filesystem::remove(path);
    SampleWriter writer(settings(path, false));
    Batcher batcher(writer);
    std::mt19937_64 random(42);
    int64_t samples = 0;
    std::deque<SeriesId> ids;
    if (mode == "random") {
        for (int h = 0; h < hosts; ++h)
            ids.emplace_back("host-" + std::to_string(h), "random.value",
                             std::vector<std::pair<std::string, std::string>>{}, DMON_GAUGE);
        for (int p = 0; p < points; ++p) {
            for (int h = 0; h < hosts; ++h) {
                batcher.add(ids[h], std::uniform_real_distribution<double>(0, 1)(random),
                            kT0 + p * kSecond);
                ++samples;
            }
        }
    } else {
        const auto recorded = read_recording(recording);
        if (recorded.empty()) {
            std::fprintf(stderr, "error: no series in %s\n", recording.c_str());
            return 1;
        }
        // Counter values replayed incrementally (replayed() from scratch is quadratic).
        std::vector<std::vector<double>> values(recorded.size() * hosts);
        for (size_t s = 0; s < recorded.size(); ++s) {
            for (int h = 0; h < hosts; ++h) {
                auto& v = values[s * hosts + h];
                const auto& r = recorded[s];
                const int n = static_cast<int>(r.values.size());
                for (int p = 0; p < points; ++p) {
                    if (r.type == DMON_COUNTER)
                        v.push_back(
                            p == 0 ? r.values[h % n]
                                   : v.back() + std::max(0.0, r.values[(h + p - 1) % (n - 1) + 1] -
                                                                  r.values[(h + p - 1) % (n - 1)]));
                    else
                        v.push_back(replayed(r, h, p));
                }
            }
        }
        for (int h = 0; h < hosts; ++h) {
            for (const auto& r : recorded)
                ids.emplace_back("host-" + std::to_string(h), r.name, r.labels, r.type);
        }
        for (int p = 0; p < points; ++p) {
            for (int h = 0; h < hosts; ++h) {
                for (size_t s = 0; s < recorded.size(); ++s) {
                    const auto& r = recorded[s];
                    int64_t ts = kT0 + p * kSecond;
                    if (mode == "jitter") {  // the recorded offsets from the whole second
                        const auto& t = r.timestamps;
                        ts += t[(p + h) % t.size()] % kSecond;
                    }
                    batcher.add(ids[h * recorded.size() + s], values[s * hosts + h][p], ts);
                    ++samples;
                }
            }
        }
    }
    batcher.flush();
    writer.seal();
    writer.database().exec("PRAGMA wal_checkpoint(TRUNCATE)");
    const auto bytes = std::filesystem::file_size(path);
    std::printf("%.2f %lld %lld\n", static_cast<double>(bytes) / static_cast<double>(samples),
                static_cast<long long>(samples), static_cast<long long>(bytes));
    return 0;
}

int day(const std::string& path, const std::string& rows_path) {
    std::vector<dmon::store::Point> points;
    for (int i = 0; i < 86'400; ++i)
        points.push_back({kT0 + i * kSecond, 4e9 + static_cast<double>((i * 7919) % 5000) * 4096});
    {
        SampleWriter writer(settings(path, false));
        Batcher batcher(writer);
        const SeriesId id("day-host", "day.value", {{"state", "used"}}, DMON_GAUGE);
        for (const auto& p : points)
            batcher.add(id, p.value, p.ts);
        batcher.flush();
        writer.seal();
    }
    std::filesystem::remove(rows_path);
    Database rows(rows_path, true);
    rows.exec("PRAGMA journal_mode=WAL");
    rows.exec(
        "CREATE TABLE series(id INTEGER PRIMARY KEY, host TEXT, name TEXT, labels TEXT, type "
        "TEXT);"
        "CREATE TABLE samples(series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT "
        "NULL, PRIMARY KEY(series_id, ts)) WITHOUT ROWID");
    dmon::store::Transaction transaction(rows);
    rows.exec("INSERT INTO series VALUES(1, 'day-host', 'day.value', 'state=used', 'gauge')");
    auto insert = rows.prepare("INSERT INTO samples VALUES(?, ?, ?)");
    for (const auto& p : points) {
        insert.reset();
        insert.bind(0, int64_t{1}).bind(1, p.ts).bind(2, p.value).step();
    }
    // The latest rows of every series of DB, as a schema 1 store would hold them (10 each).
    dmon::store::SampleReader reader(path);
    int64_t id = 2;
    auto series = rows.prepare("INSERT INTO series VALUES(?, ?, ?, ?, ?)");
    for (const auto& row : reader.latest(std::nullopt)) {
        if (row.name == "day.value")
            continue;
        series.reset();
        series.bind(0, id)
            .bind(1, row.host)
            .bind(2, row.name)
            .bind(3, row.labels)
            .bind(4, row.type)
            .step();
        for (int k = 0; k < 10; ++k) {
            insert.reset();
            insert.bind(0, id).bind(1, row.timestamp_ns - k * kSecond).bind(2, row.value).step();
        }
        ++id;
    }
    transaction.commit();
    return 0;
}

// The median of `runs` timings of `work`, in ms.
template <typename Work>
double median_ms(int runs, Work&& work) {
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
        const auto start = Clock::now();
        work();
        ms.push_back(seconds_since(start) * 1000);
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

int read(const std::string& path, const std::string& rows_path) {
    dmon::store::SampleReader reader(path);
    const dmon::store::QueryRange range{kT0, kT0 + 86'400 * kSecond};
    size_t n = 0;
    const double query =
        median_ms(15, [&] { n = reader.query("day.value", "day-host", range, false).size(); });
    if (n != 86'400) {
        std::fprintf(stderr, "error: the day query gave %zu points\n", n);
        return 1;
    }
    const double step = median_ms(15, [&] {
        n = reader.query_steps("day.value", "day-host", range, 60 * kSecond, false).size();
    });
    if (n != 1440) {
        std::fprintf(stderr, "error: the stepped query gave %zu buckets\n", n);
        return 1;
    }
    size_t series = 0;
    const double latest = median_ms(5, [&] { series = reader.latest(std::nullopt).size(); });

    Database rows(rows_path, Database::ReadOnly{});
    const double row_query = median_ms(15, [&] {
        auto stmt = rows.prepare(
            "SELECT x.ts, x.value FROM series s JOIN samples x ON x.series_id = s.id WHERE s.name "
            "= 'day.value' AND s.host = 'day-host' AND x.ts BETWEEN ? AND ? ORDER BY x.ts");
        stmt.bind(0, range.from_ns).bind(1, range.to_ns);
        n = 0;
        while (stmt.step())
            ++n;
    });
    const double row_step = median_ms(15, [&] {
        auto stmt = rows.prepare(
            "SELECT x.ts / 60000000000, min(x.value), avg(x.value), max(x.value) FROM series s "
            "JOIN samples x ON x.series_id = s.id WHERE s.name = 'day.value' AND s.host = "
            "'day-host' AND x.ts BETWEEN ? AND ? GROUP BY 1");
        stmt.bind(0, range.from_ns).bind(1, range.to_ns);
        while (stmt.step()) {
        }
    });
    const double row_latest = median_ms(5, [&] {
        auto stmt = rows.prepare(
            "SELECT s.host, s.name, s.labels, s.type, x.ts, x.value FROM series s JOIN samples x "
            "ON x.series_id = s.id AND x.ts = (SELECT max(ts) FROM samples WHERE series_id = s.id) "
            "ORDER BY s.host, s.name, s.labels");
        while (stmt.step()) {
        }
    });
    std::printf("%.2f %.2f %.2f %.2f %.2f %.2f %zu\n", query, row_query, step, row_step, latest,
                row_latest, series);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    try {
        if (args.size() == 4 && args[0] == "writer")
            return writer(args[1], std::stoi(args[2]), std::stoi(args[3]));
        if (args.size() == 6 && args[0] == "shape")
            return shape(args[1], args[2], std::stoi(args[3]), std::stoi(args[4]), args[5]);
        if (args.size() == 3 && args[0] == "day")
            return day(args[1], args[2]);
        if (args.size() == 3 && args[0] == "read")
            return read(args[1], args[2]);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "usage: see the top of bench/store_bench.cpp\n");
    return 2;
}
