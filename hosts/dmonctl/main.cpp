// dmonctl: reads what the controller stored (hosts, metrics, latest, query, top, stats), seals
// and migrates the store (compact, migrate), and talks to a running host (reload, status, health).
#include "output.hpp"

#include <dmon/core/control_server.hpp>
#include <dmon/core/duration.hpp>
#include <dmon/core/host.hpp>

#include <dmon/store/reader.hpp>
#include <dmon/store/schema.hpp>
#include <dmon/store/writer.hpp>

#include <chrono>
#include <csignal>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

namespace {

using dmon::ctl::Format;
using dmon::ctl::Table;
using dmon::store::Row;
using dmon::store::SampleReader;

const char* kUsage = R"(usage: dmonctl COMMAND --db FILE [options]

commands:
  hosts                      the hosts that have samples
  metrics                    every metric name, its type, and how many series and hosts have it
  latest  [--host H]         the newest value of every series
  query   --metric NAME [--host H] [--since 10m | --from T] [--until T] [--step 1m] [--rate]
                             a metric's points since a moment (default: the last 10 minutes);
                             T is ns since the epoch or 2024-11-24T16:00:00Z; --rate turns
                             counters into per-second rates; --step gives min, mean, max and
                             last per bucket of that length instead of every point
  stats                      series, samples, bytes on disk, bytes per sample, oldest and
                             newest sample, samples not sealed into chunks yet
  compact                    seal every unsealed sample into chunks now (safe beside a running
                             controller; before a backup)
  migrate [--no-backup]      migrate a file written by an older dmon to this schema, in place
                             (a copy is kept in FILE.schema1.bak unless --no-backup)
    top     [--interval 1s] [--once]
                             a live view of CPU, memory, disk and network per host
  reload  [--control PATH | --node NAME]
                             make a running dmon host reload its config; prints the outcome
                             (generation, added, changed, removed, kept, or the errors)
  status  [--control PATH | --node NAME]
                             a running host's generation, last reload, instances, and per sink:
                             connected, queued, spooled, oldest unsent, last success and error
  health  [--control PATH | --node NAME]
                             one line, for alerting; exit 0 healthy, 1 degraded (a sink cannot
                             deliver, a spool half full, a collector backing off), 2 failed
                             (samples dropped in the last minute, or the host does not answer)

options:
    --db FILE                  the SQLite file written by sqlite_store (or $DMON_DB)
  --control PATH             a host's control socket (default: the one of --node, or of this
                             machine's host name, in $XDG_RUNTIME_DIR or /tmp)
  --format table|csv|json    output format (default: table); CSV columns host,name,labels,timestamp,value

Exit status: 0 success, 1 the database cannot be read, 2 bad usage.
)";

struct Arguments {
    std::string command;
    std::string db;
    Format format = Format::table;
    std::optional<std::string> host;
    std::string metric;
    std::chrono::nanoseconds since{std::chrono::minutes(10)};
    std::optional<int64_t> from_ns, until_ns;
    std::optional<std::chrono::nanoseconds> step;
    bool backup = true;
    std::chrono::nanoseconds interval{std::chrono::seconds(1)};
    bool rate = false;
    bool once = false;
    std::string control;
    std::string node;
};

class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A moment: ns since the epoch, or UTC as 2024-11-24T16:00:00Z (seconds and Z optional).
int64_t moment(const std::string& option, const std::string& text) {
    const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
    if (digits && text.size() <= 19)
        return std::stoll(text);
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    char tail[4] = {};
    const int n = std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%3s", &year, &month, &day,
                              &hour, &minute, &second, tail);
    if (n < 5 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
        second > 60 || (n == 7 && std::string(tail) != "Z"))
        throw UsageError(option + " needs ns since the epoch or a UTC time such as " +
                         "2024-11-24T16:00:00Z; got '" + text + "'");
    // Days from the civil date (Howard Hinnant's algorithm), so no time zone is involved.
    const int y = year - (month <= 2 ? 1 : 0);
    const int era = (y >= 0 ? y : y - 399) / 400;
    const int yoe = y - era * 400;
    const int doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    const int64_t days = static_cast<int64_t>(era) * 146097 + doe - 719468;
    return ((days * 24 + hour) * 60 + minute) * 60'000'000'000LL + second * 1'000'000'000LL;
}

Arguments parse(int argc, char** argv) {
    Arguments args;
    if (argc < 2)
        throw UsageError("no command given");
    args.command = argv[1];
    if (const char* db = std::getenv("DMON_DB"))
        args.db = db;
    for (int i = 2; i < argc; ++i) {
        const std::string word = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                throw UsageError(word + " needs a value");
            return argv[++i];
        };
        auto duration = [&](const std::string& text) -> std::chrono::nanoseconds {
            auto parsed = dmon::core::parse_duration(text);
            if (!parsed)
                throw UsageError(word + " needs a duration such as 30s, 10m or 2h; got '" + text +
                                 "'");
            return *parsed;
        };
        if (word == "--db") {
            args.db = value();
        } else if (word == "--format") {
            const std::string f = value();
            if (f == "table")
                args.format = Format::table;
            else if (f == "csv")
                args.format = Format::csv;
            else if (f == "json")
                args.format = Format::json;
            else
                throw UsageError("--format must be table, csv or json; got '" + f + "'");
        } else if (word == "--host") {
            args.host = value();
        } else if (word == "--metric") {
            args.metric = value();
        } else if (word == "--since") {
            args.since = duration(value());
        } else if (word == "--from") {
            args.from_ns = moment(word, value());
        } else if (word == "--until") {
            args.until_ns = moment(word, value());
        } else if (word == "--step") {
            args.step = duration(value());
            if (args.step->count() <= 0)
                throw UsageError("--step must be longer than 0");
        } else if (word == "--no-backup") {
            args.backup = false;
        } else if (word == "--interval") {
            args.interval = duration(value());
        } else if (word == "--rate") {
            args.rate = true;
        } else if (word == "--once") {
            args.once = true;
        } else if (word == "--control") {
            args.control = value();
        } else if (word == "--node") {
            args.node = value();
        } else {
            throw UsageError("unknown option '" + word + "' for '" + args.command + "'");
        }
    }
    const bool talks_to_host =
        args.command == "reload" || args.command == "status" || args.command == "health";
    if (args.db.empty() && !talks_to_host)
        throw UsageError("'" + args.command + "' needs --db FILE (or $DMON_DB)");
    if (args.command == "query" && args.metric.empty())
        throw UsageError("'query' needs --metric NAME");
    return args;
}

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Table steps_table(const std::vector<dmon::store::StepRow>& rows, Format format) {
    Table table{{"host", "name", "labels", "timestamp", "min", "mean", "max", "last", "count"},
                {false, false, false, format != Format::table, true, true, true, true, true},
                {}};
    for (const auto& row : rows) {
        table.rows.push_back({row.host, row.name, row.labels,
                              format == Format::table ? dmon::ctl::format_time_utc(row.timestamp_ns)
                                                      : std::to_string(row.timestamp_ns),
                              dmon::ctl::format_number(row.min), dmon::ctl::format_number(row.mean),
                              dmon::ctl::format_number(row.max), dmon::ctl::format_number(row.last),
                              std::to_string(row.count)});
    }
    return table;
}

Table stats_table(const dmon::store::StoreStats& stats, Format format) {
    auto moment_cell = [&](const std::optional<int64_t>& ns) -> std::string {
        if (!ns)
            return format == Format::json ? "null" : "";
        return format == Format::table ? dmon::ctl::format_time_utc(*ns) : std::to_string(*ns);
    };
    char per_sample[32];
    std::snprintf(per_sample, sizeof(per_sample), "%.2f", stats.bytes_per_sample());
    return Table{
        {"series", "samples", "bytes", "bytes_per_sample", "head_samples", "chunks", "free_bytes",
         "oldest", "newest", "schema_version"},
        {true, true, true, true, true, true, true, format != Format::table, format != Format::table,
         true},
        {{std::to_string(stats.series), std::to_string(stats.samples), std::to_string(stats.bytes),
          per_sample, std::to_string(stats.head_samples), std::to_string(stats.chunks),
          std::to_string(stats.free_bytes), moment_cell(stats.oldest_ns),
          moment_cell(stats.newest_ns), std::to_string(stats.schema_version)}}};
}

Table rows_table(const std::vector<Row>& rows, Format format) {
    Table table{{"host", "name", "labels", "timestamp", "value"},
                {false, false, false, format != Format::table, true},
                {}};
    for (const auto& row : rows) {
        table.rows.push_back({row.host, row.name, row.labels,
                              format == Format::table ? dmon::ctl::format_time_utc(row.timestamp_ns)
                                                      : std::to_string(row.timestamp_ns),
                              dmon::ctl::format_number(row.value)});
    }
    return table;
}

// ---- top ----

struct HostView {
    std::optional<double> cpu, memory_used, memory_limit;
    double disk_read = 0, disk_write = 0, net_receive = 0, net_transmit = 0;
    bool has_disk = false, has_net = false;
    int64_t last_seen = 0;
};

bool has_label(const std::string& labels, const std::string& label) {
    return ("," + labels + ",").find("," + label + ",") != std::string::npos;
}

// Sums the newest per-second rate of every series of a counter, by direction.
void newest_rates(SampleReader& reader, const std::string& metric, const std::string& host,
                  int64_t since, const std::string& first_direction, double& first, double& second,
                  bool& seen) {
    std::map<std::string, Row> newest;  // by labels
    for (auto& row : reader.query(metric, host, {since}, true))
        newest[row.labels] = std::move(row);
    for (const auto& [labels, row] : newest) {
        seen = true;
        (has_label(labels, "direction=" + first_direction) ? first : second) += row.value;
    }
}

std::string percent(std::optional<double> fraction) {
    if (!fraction)
        return "-";
    char buffer[16];
    std::snprintf(buffer, sizeof(buffer), "%.1f%%", *fraction * 100);
    return buffer;
}

Table top_table(SampleReader& reader) {
    const int64_t now = now_ns();
    const int64_t since = now - 120'000'000'000;  // rates from the last two minutes
    Table table{{"host", "cpu", "mem used", "mem", "disk read/s", "disk write/s", "net rx/s",
                 "net tx/s", "last seen"},
                {false, true, true, true, true, true, true, true, true},
                {}};
    for (const auto& host : reader.hosts()) {
        HostView view;
        for (const auto& row : reader.latest(host)) {
            view.last_seen = std::max(view.last_seen, row.timestamp_ns);
            if (row.name == "system.cpu.utilization" && row.labels == "cpu=total")
                view.cpu = row.value;
            if (row.name == "system.memory.usage" && row.labels == "state=used")
                view.memory_used = row.value;
            if (row.name == "system.memory.limit")
                view.memory_limit = row.value;
        }
        newest_rates(reader, "system.disk.io", host, since, "read", view.disk_read, view.disk_write,
                     view.has_disk);
        newest_rates(reader, "system.network.io", host, since, "receive", view.net_receive,
                     view.net_transmit, view.has_net);
        auto bytes = [](bool seen, double value) {
            return seen ? dmon::ctl::format_bytes(value) : std::string("-");
        };
        const std::optional<double> memory_share =
            view.memory_used && view.memory_limit && *view.memory_limit > 0
                ? std::optional(*view.memory_used / *view.memory_limit)
                : std::nullopt;
        table.rows.push_back({host, percent(view.cpu),
                              view.memory_used ? dmon::ctl::format_bytes(*view.memory_used) : "-",
                              percent(memory_share), bytes(view.has_disk, view.disk_read),
                              bytes(view.has_disk, view.disk_write),
                              bytes(view.has_net, view.net_receive),
                              bytes(view.has_net, view.net_transmit),
                              std::to_string((now - view.last_seen) / 1'000'000'000) + "s ago"});
    }
    return table;
}

volatile std::sig_atomic_t g_stop = 0;

int top(const Arguments& args) {
    std::signal(SIGINT, [](int) { g_stop = 1; });
    std::signal(SIGTERM, [](int) { g_stop = 1; });
    while (!g_stop) {
        SampleReader reader(
            args.db);  // reopened each frame: the file may have been created meanwhile
        const Table table = top_table(reader);
        if (!args.once)
            std::cout << "\x1b[H\x1b[2J";  // home, clear: a refreshing screen
        std::cout << "dmon top  " << args.db << "  " << dmon::ctl::format_time_utc(now_ns())
                  << (args.once ? "" : "  (Ctrl-C to quit)") << "\n\n";
        dmon::ctl::print(table, Format::table, std::cout);
        if (table.rows.empty())
            std::cout << "(no samples yet)\n";
        std::cout << std::flush;
        if (args.once)
            break;
        const auto until = std::chrono::steady_clock::now() + args.interval;
        while (!g_stop && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return 0;
}

int talk_to_host(const Arguments& args) {
    const std::string path = !args.control.empty()
                                 ? args.control
                                 : dmon::core::default_control_path(
                                       args.node.empty() ? dmon::core::machine_name() : args.node);
    if (args.command == "health") {
        std::string answer;
        try {
            answer = dmon::core::control_request(path, "health");
        } catch (const std::exception& e) {
            std::cout << "failed: " << e.what() << "\n";
            return 2;
        }
        std::cout << answer;
        if (answer.rfind("healthy", 0) == 0)
            return 0;
        return answer.rfind("degraded", 0) == 0 ? 1 : 2;
    }
    const std::string answer = dmon::core::control_request(path, args.command);
    std::cout << answer;
    // reload: the host says "reload ok" or "reload failed"; status always succeeds.
    return answer.rfind("reload failed", 0) == 0 || answer.rfind("error:", 0) == 0 ? 1 : 0;
}

// Seals the head now, beside a running controller (each seal is one transaction).
int compact(const Arguments& args) {
    dmon::store::Database db(args.db, false);
    db.exec("PRAGMA journal_mode=WAL");
    dmon::store::check_schema(db, false);
    const auto result = dmon::store::seal_head(db, dmon::store::recorded_chunk_samples(db));
    db.exec("PRAGMA wal_checkpoint(PASSIVE)");
    std::cout << "sealed " << result.stored << " samples of " << result.series << " series into "
              << result.chunks << " chunks";
    if (result.duplicates > 0)
        std::cout << " (" << result.duplicates << " duplicates dropped)";
    std::cout << "\n";
    return 0;
}

int migrate(const Arguments& args) {
    dmon::store::Database db(args.db, false);
    const int version = dmon::store::schema_version(db);
    if (version == dmon::store::kSchemaVersion) {
        std::cout << args.db << ": already schema " << version << "\n";
        return 0;
    }
    db.exec("PRAGMA journal_mode=WAL");
    dmon::store::MigrationOptions options;
    options.backup = args.backup;
    options.progress = [](const std::string& line) { std::cerr << line << std::endl; };
    std::cout << args.db << ": " << dmon::store::migrate_schema(db, options) << "\n";
    return 0;
}

int run(const Arguments& args) {
    if (args.command == "top")
        return top(args);
    if (args.command == "compact")
        return compact(args);
    if (args.command == "migrate")
        return migrate(args);
    if (args.command == "reload" || args.command == "status" || args.command == "health")
        return talk_to_host(args);
    SampleReader reader(args.db);
    Table table;
    if (args.command == "hosts") {
        table = {{"host"}, {false}, {}};
        for (const auto& host : reader.hosts())
            table.rows.push_back({host});
    } else if (args.command == "metrics") {
        table = {{"name", "type", "series", "hosts"}, {false, false, true, true}, {}};
        for (const auto& m : reader.metrics()) {
            table.rows.push_back(
                {m.name, m.type, std::to_string(m.series), std::to_string(m.hosts)});
        }
    } else if (args.command == "latest") {
        table = rows_table(reader.latest(args.host), args.format);
    } else if (args.command == "query") {
        const int64_t now = now_ns();
        dmon::store::QueryRange range{args.from_ns.value_or(now - args.since.count()),
                                      args.until_ns.value_or(now)};
        if (args.step) {
            table = steps_table(
                reader.query_steps(args.metric, args.host, range, args.step->count(), args.rate),
                args.format);
        } else {
            table = rows_table(reader.query(args.metric, args.host, range, args.rate), args.format);
        }
    } else if (args.command == "stats") {
        table = stats_table(reader.stats(), args.format);
    } else {
        throw UsageError("unknown command '" + args.command + "'");
    }
    dmon::ctl::print(table, args.format, std::cout);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
        std::cout << kUsage;
        return 0;
    }
    if (argc == 2 && std::string(argv[1]) == "--version") {
        std::cout << "dmonctl " << DMON_VERSION << "\n";
        return 0;
    }
    try {
        return run(parse(argc, argv));
    } catch (const UsageError& e) {
        std::cerr << "dmonctl: " << e.what() << "\n\n" << kUsage;
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << '\n';
        return 1;
    }
}
