// Helpers for bench/spool.sh.
//   dmon_bench_spool storage FOLDER RECORDS BYTES   the two spool designs, same records, same
//                                                   durability: segment files (fdatasync per
//                                                   append) vs an SQLite table in WAL mode
//                                                   (synchronous=FULL, a commit per append)
//   dmon_bench_spool fill FOLDER NODE ROUNDS SAMPLES  a spool as an agent leaves it after ROUNDS
//                                                   one-second rounds the broker never took
#include <dmon/core/sealed_batch.hpp>
#include <dmon/core/spool.hpp>

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace {
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

uint64_t folder_bytes(const fs::path& folder) {
    uint64_t total = 0;
    for (const auto& entry : fs::recursive_directory_iterator(folder)) {
        if (entry.is_regular_file())
            total += entry.file_size();
    }
    return total;
}

struct Figures {
    double append_per_s, drain_per_s;
    uint64_t peak_bytes;
};

Figures segments(const fs::path& folder, int records, const std::string& payload) {
    auto spool = dmon::core::Spool::open({folder, uint64_t{1} << 34});
    auto start = Clock::now();
    for (int i = 0; i < records; ++i) {
        if (!spool->append(payload, 100).stored)
            throw std::runtime_error("append failed");
    }
    const double append = records / seconds_since(start);
    const uint64_t peak = folder_bytes(folder);
    start = Clock::now();
    int drained = 0;
    while (auto record = spool->front()) {
        spool->pop(*record);
        ++drained;
    }
    if (drained != records)
        throw std::runtime_error("segments: drained " + std::to_string(drained));
    return {append, records / seconds_since(start), peak};
}

void check(int rc, sqlite3* db, const char* what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
}

Figures sqlite(const fs::path& folder, int records, const std::string& payload) {
    fs::create_directories(folder);
    sqlite3* db = nullptr;
    check(sqlite3_open((folder / "spool.db").string().c_str(), &db), db, "open");
    check(sqlite3_exec(db,
                       "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                       "CREATE TABLE spool(seq INTEGER PRIMARY KEY, samples INTEGER, payload BLOB)",
                       nullptr, nullptr, nullptr),
          db, "schema");
    sqlite3_stmt *insert = nullptr, *head = nullptr, *remove = nullptr;
    check(sqlite3_prepare_v2(db, "INSERT INTO spool(samples, payload) VALUES (100, ?1)", -1,
                             &insert, nullptr),
          db, "prepare");
    check(sqlite3_prepare_v2(db, "SELECT seq, payload FROM spool ORDER BY seq LIMIT 1", -1, &head,
                             nullptr),
          db, "prepare");
    check(sqlite3_prepare_v2(db, "DELETE FROM spool WHERE seq = ?1", -1, &remove, nullptr), db,
          "prepare");
    auto start = Clock::now();
    for (int i = 0; i < records; ++i) {  // autocommit: one durable transaction per append
        sqlite3_bind_blob(insert, 1, payload.data(), static_cast<int>(payload.size()),
                          SQLITE_STATIC);
        check(sqlite3_step(insert), db, "insert");
        sqlite3_reset(insert);
    }
    const double append = records / seconds_since(start);
    const uint64_t peak = folder_bytes(folder);
    start = Clock::now();
    int drained = 0;
    while (sqlite3_step(head) == SQLITE_ROW) {
        const int64_t seq = sqlite3_column_int64(head, 0);
        std::string copy(static_cast<const char*>(sqlite3_column_blob(head, 1)),
                         static_cast<size_t>(sqlite3_column_bytes(head, 1)));
        sqlite3_reset(head);
        sqlite3_bind_int64(remove, 1, seq);
        check(sqlite3_step(remove), db, "delete");
        sqlite3_reset(remove);
        ++drained;
    }
    sqlite3_finalize(insert);
    sqlite3_finalize(head);
    sqlite3_finalize(remove);
    sqlite3_close(db);
    if (drained != records)
        throw std::runtime_error("sqlite: drained " + std::to_string(drained));
    return {append, records / seconds_since(start), peak};
}

int storage(const fs::path& folder, int records, size_t bytes) {
    const std::string payload(bytes, 'x');
    fs::remove_all(folder);
    const Figures a = segments(folder / "segments", records, payload);
    const Figures b = sqlite(folder / "sqlite", records, payload);
    std::printf("%-28s %14s %14s %14s\n", "design", "appends/s", "drained/s", "peak disk");
    std::printf("%-28s %14.0f %14.0f %11.1f MiB\n", "segment files + CRC32C", a.append_per_s,
                a.drain_per_s, a.peak_bytes / 1048576.0);
    std::printf("%-28s %14.0f %14.0f %11.1f MiB\n", "SQLite WAL, synchronous=FULL", b.append_per_s,
                b.drain_per_s, b.peak_bytes / 1048576.0);
    std::printf("segments / SQLite: appends %.2fx, drain %.2fx\n", a.append_per_s / b.append_per_s,
                a.drain_per_s / b.drain_per_s);
    fs::remove_all(folder);
    return 0;
}

int fill(const fs::path& folder, const std::string& node, int rounds, int samples) {
    auto spool = dmon::core::Spool::open({folder, uint64_t{1} << 34});
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const int64_t first = now - int64_t{rounds} * 1'000'000'000;
    std::vector<std::string> devices;
    for (int s = 0; s < samples; ++s)
        devices.push_back("d" + std::to_string(s));
    for (int r = 0; r < rounds; ++r) {
        auto part = std::make_shared<dmon::core::SampleBatch>("bench");
        const int64_t ts = first + int64_t{r} * 1'000'000'000;
        for (int s = 0; s < samples; ++s) {
            part->add("bench.replay", {{"host", node}, {"device", devices[s]}},
                      static_cast<double>(r * samples + s), DMON_COUNTER, ts);
        }
        dmon::core::SealedBatch batch;
        batch.id = node + ":amqp_publish:1:" + std::to_string(r + 1);
        batch.sealed_at_ns = ts;
        batch.add(part);
        if (!spool->append(dmon::core::encode_sealed_batch(batch), samples).stored)
            throw std::runtime_error("append failed");
    }
    std::printf("%llu\n", static_cast<unsigned long long>(spool->bytes()));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const std::string command = argc > 1 ? argv[1] : "";
        if (command == "storage" && argc == 5)
            return storage(argv[2], std::stoi(argv[3]), std::stoul(argv[4]));
        if (command == "fill" && argc == 6)
            return fill(argv[2], argv[3], std::stoi(argv[4]), std::stoi(argv[5]));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dmon_bench_spool: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr,
                 "usage: dmon_bench_spool storage FOLDER RECORDS BYTES\n"
                 "       dmon_bench_spool fill FOLDER NODE ROUNDS SAMPLES\n");
    return 2;
}
