// dmonctl: reads what the controller stored (hosts, metrics, latest, query, top, stats), serves
// it as a page and a JSON API (serve), seals and migrates the store (compact, migrate), and
// talks to a running host (reload, status, health).
#include "fleet.hpp"
#include "output.hpp"
#include "open_store.hpp"
#include "overview.hpp"
#include "units.hpp"

#ifdef DMON_WEB
#include "server.hpp"
#endif

#include <dmon/core/control_server.hpp>
#include <dmon/core/duration.hpp>
#include <dmon/core/host.hpp>
#include <dmon/core/text.hpp>

#include <dmon/store/reader.hpp>
#include <dmon/store/schema.hpp>
#include <dmon/store/writer.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <thread>

namespace {

using dmon::ctl::Cell;
using dmon::ctl::Format;
using dmon::ctl::Table;
using dmon::store::Row;
using dmon::store::SampleReader;

// ---- the command line: commands, their options, their help ----

struct Command {
    const char* name;
    const char* synopsis;     // after "dmonctl NAME"
    const char* description;  // what it does, for `dmonctl NAME --help`
    std::set<std::string> options;
};

const std::set<std::string> kReadOptions = {"--db", "--format"};
const std::set<std::string> kHostOptions = {"--control", "--node"};

const std::vector<Command>& commands() {
    static const std::vector<Command> list = {
        {"hosts", "[--db FILE] [--format F]", "the hosts that have samples", kReadOptions},
        {"metrics", "[--db FILE] [--format F]",
         "every metric name, its type, its unit, and how many series and hosts have it",
         kReadOptions},
        {"latest",
         "[--host H] [--metric NAME] [--db FILE] [--format F]",
         "the newest value of every series (of a host, of a metric)",
         {"--db", "--format", "--host", "--metric"}},
        {"query",
         "--metric NAME [--host H] [--since 10m | --from T] [--until T] [--step 1m] [--rate]",
         "a metric's points since a moment (default: the last 10 minutes). T is ns since the\n"
         "epoch or a UTC time such as 2024-11-24T16:00:00Z. --rate turns a counter into\n"
         "per-second rates (a gauge is refused). --step gives min, mean, max and last per\n"
         "bucket of that length instead of every point. An unknown metric or host is an error\n"
         "that names the closest ones.",
         {"--db", "--format", "--host", "--metric", "--since", "--from", "--until", "--step",
          "--rate"}},
        {"stats", "[--db FILE] [--format F]",
         "series, samples, bytes on disk, bytes per sample, oldest and newest sample, samples\n"
         "not sealed into chunks yet",
         kReadOptions},
        {"top",
         "[--interval 1s] [--once] [--db FILE]",
         "a live view of CPU, memory, disk and network per host; a host that stopped reporting\n"
         "(three of its intervals, at least 10 s) is marked stale",
         {"--db", "--interval", "--once"}},
        {"serve",
         "[--listen 127.0.0.1:8080] [--token-file F] [--tls-cert PEM --tls-key PEM] [--db FILE]",
         "the page (hosts, a host's charts, a metric explorer) and the JSON API of\n"
         "docs/http-api.md, read-only, beside a running controller. Listens on loopback unless\n"
         "told otherwise; any other address needs --token-file (a file of mode 0600 holding a\n"
         "token of 16 or more characters, sent as 'Authorization: Bearer TOKEN' or through the\n"
         "login form), and is warned about without TLS.",
         {"--db", "--listen", "--token-file", "--tls-cert", "--tls-key", "--threads"}},
        {"compact",
         "[--db FILE]",
         "seal every unsealed sample into chunks now (safe beside a running controller; before a\n"
         "backup)",
         {"--db"}},
        {"migrate",
         "[--no-backup] [--db FILE]",
         "migrate a file written by an older dmon to this schema, in place (a copy is kept in\n"
         "FILE.schema1.bak unless --no-backup)",
         {"--db", "--no-backup"}},
        {"reload", "[--control PATH | --node NAME]",
         "make a running dmon host reload its config; prints the outcome (generation, added,\n"
         "changed, removed, kept, or the errors)",
         kHostOptions},
        {"status", "[--control PATH | --node NAME]",
         "a running host's generation, last reload, instances, and per sink: connected, queued,\n"
         "spooled, oldest unsent, last success and error",
         kHostOptions},
        {"fleet",
         "status|reload|apply FILE|collect|ping --url URL (--node GLOB | --group G | --all)",
         "a command to the agents of a fleet through the broker, and one row per agent that\n"
         "answered or was expected to (`dmonctl fleet --help` for its options)",
         {}},
        {"health", "[--control PATH | --node NAME]",
         "one line, for alerting; exit 0 healthy, 1 degraded (a sink cannot deliver, a spool half\n"
         "full, a collector backing off), 2 failed (samples dropped in the last minute, or the\n"
         "host does not answer)",
         kHostOptions},
    };
    return list;
}

const char* kOptionsHelp = R"(options (before or after the command):
  --db FILE|URI              the SQLite file written by sqlite_store, or postgres_store's
                             database as postgresql://user@host:port/dbname (the password
                             from PGPASSWORD, PGPASSFILE or ~/.pgpass) (or $DMON_DB)
  --format table|csv|json    output format (default: table, with units; CSV and JSON carry
                             exact numbers and ns since the epoch)
  --control PATH             a host's control socket (default: the one of --node, or of this
                             machine's host name, in $XDG_RUNTIME_DIR or /tmp)
  --help                     this text; `dmonctl COMMAND --help` for one command

Exit status: 0 success, 1 the database cannot be read or nothing matches, 2 bad usage.
)";

std::string usage() {
    std::string text = "usage: dmonctl COMMAND [options]\n\ncommands:\n";
    for (const auto& command : commands()) {
        std::string description = command.description;
        description = description.substr(0, description.find('\n'));
        char line[160];
        std::snprintf(line, sizeof(line), "  %-9s %s\n", command.name, description.c_str());
        text += line;
    }
    return text + "\n" + kOptionsHelp;
}

std::string command_help(const Command& command) {
    return std::string("usage: dmonctl ") + command.name + " " + command.synopsis + "\n\n" +
           command.description + "\n\n" + kOptionsHelp;
}

const Command* find_command(const std::string& name) {
    for (const auto& command : commands())
        if (name == command.name)
            return &command;
    return nullptr;
}

struct Arguments {
    std::string command;
    bool help = false;
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
    std::string listen = "127.0.0.1:8080";
    std::string token_file, tls_cert, tls_key;
    int threads = 2;
};

class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Nothing matched what was asked (an unknown metric or host): exit 1, with the closest names.
class NotFound : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A moment: ns since the epoch, or UTC as 2024-11-24T16:00:00Z (seconds and Z optional).
int64_t moment(const std::string& option, const std::string& text) {
    const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
    if (digits && text.size() <= 19)
        return std::stoll(text);
    if (auto parsed = dmon::core::parse_time_utc(text))
        return *parsed;
    throw UsageError(option + " needs ns since the epoch or a UTC time such as " +
                     "2024-11-24T16:00:00Z; got '" + text + "'");
}

// Options are accepted before and after the command (`dmonctl --db F hosts`, `dmonctl hosts
// --db F`); an option the command does not take is refused by name.
Arguments parse(int argc, char** argv) {
    Arguments args;
    if (const char* db = std::getenv("DMON_DB"))
        args.db = db;
    std::vector<std::string> seen;
    for (int i = 1; i < argc; ++i) {
        const std::string word = argv[i];
        if (word.rfind("--", 0) != 0 && word != "-h") {
            if (!args.command.empty())
                throw UsageError("unexpected '" + word + "' after the command '" + args.command +
                                 "'");
            args.command = word;
            continue;
        }
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
        if (word == "--help" || word == "-h") {
            args.help = true;
            continue;
        }
        seen.push_back(word);
        if (word == "--db") {
            args.db = value();
        } else if (word == "--format") {
            const std::string f = value();
            const auto format = dmon::ctl::parse_format(f);
            if (!format)
                throw UsageError("--format must be table, csv or json; got '" + f + "'");
            args.format = *format;
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
        } else if (word == "--listen") {
            args.listen = value();
        } else if (word == "--token-file") {
            args.token_file = value();
        } else if (word == "--tls-cert") {
            args.tls_cert = value();
        } else if (word == "--tls-key") {
            args.tls_key = value();
        } else if (word == "--threads") {
            const std::string text = value();
            if (text.empty() || text.size() > 2 ||
                text.find_first_not_of("0123456789") != std::string::npos || std::stoi(text) < 1 ||
                std::stoi(text) > 64)
                throw UsageError("--threads must be 1..64; got '" + text + "'");
            args.threads = std::stoi(text);
        } else {
            throw UsageError("unknown option '" + word + "'");
        }
    }
    if (args.help)
        return args;
    if (args.command.empty())
        throw UsageError("no command given");
    const Command* command = find_command(args.command);
    if (command == nullptr) {
        std::vector<std::string> names;
        for (const auto& c : commands())
            names.emplace_back(c.name);
        throw UsageError("unknown command '" + args.command + "' (did you mean " +
                         dmon::ctl::joined(dmon::ctl::closest_names(args.command, names, 1)) +
                         "?)");
    }
    for (const auto& option : seen)
        if (command->options.count(option) == 0)
            throw UsageError("'" + args.command + "' takes no " + option);
    const bool talks_to_host = command->options == kHostOptions;
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

Cell value_cell(const std::string& metric, const std::string& type, double value) {
    return Cell::of_number(value, std::string(dmon::ctl::metric_unit(metric)), type == "rate");
}

Table steps_table(const std::vector<dmon::store::StepRow>& rows) {
    Table table{{"host", "name", "labels", "timestamp", "min", "mean", "max", "last", "count"}, {}};
    for (const auto& row : rows) {
        table.rows.push_back(
            {Cell::of(row.host), Cell::of(row.name), Cell::of(row.labels),
             Cell::of_time(row.timestamp_ns), value_cell(row.name, row.type, row.min),
             value_cell(row.name, row.type, row.mean), value_cell(row.name, row.type, row.max),
             value_cell(row.name, row.type, row.last), Cell::of_integer(row.count)});
    }
    return table;
}

Table stats_table(const dmon::store::StoreStats& stats) {
    auto moment_cell = [](const std::optional<int64_t>& ns) {
        return ns ? Cell::of_time(*ns) : Cell::null();
    };
    return Table{{"series", "samples", "bytes", "bytes_per_sample", "head_samples", "chunks",
                  "free_bytes", "oldest", "newest", "schema_version"},
                 {{Cell::of_integer(stats.series), Cell::of_integer(stats.samples),
                   Cell::of_integer(stats.bytes, "By"),
                   Cell::of_number(std::round(stats.bytes_per_sample() * 100) / 100),
                   Cell::of_integer(stats.head_samples), Cell::of_integer(stats.chunks),
                   Cell::of_integer(stats.free_bytes, "By"), moment_cell(stats.oldest_ns),
                   moment_cell(stats.newest_ns), Cell::of_integer(stats.schema_version)}}};
}

Table rows_table(const std::vector<Row>& rows) {
    Table table{{"host", "name", "labels", "timestamp", "value"}, {}};
    for (const auto& row : rows) {
        table.rows.push_back({Cell::of(row.host), Cell::of(row.name), Cell::of(row.labels),
                              Cell::of_time(row.timestamp_ns),
                              value_cell(row.name, row.type, row.value)});
    }
    return table;
}

// An unknown metric or host is an error naming the closest ones, not an empty table.
void check_names(dmon::store::Reader& reader, const Arguments& args) {
    if (!args.metric.empty()) {
        std::vector<std::string> names;
        std::string type;
        for (const auto& info : reader.metrics()) {
            names.push_back(info.name);
            if (info.name == args.metric)
                type = info.type;
        }
        if (type.empty())
            throw NotFound("no metric '" + args.metric + "' in " + args.db +
                           (names.empty()
                                ? std::string(" (it holds no metric yet)")
                                : "; the closest: " + dmon::ctl::joined(dmon::ctl::closest_names(
                                                          args.metric, names))));
        if (args.rate && type != "counter")
            throw UsageError("--rate turns a counter into per-second rates; " + args.metric +
                             " is a " + type + ", shown as it is without --rate");
    }
    if (args.host) {
        const auto hosts = reader.hosts();
        if (std::find(hosts.begin(), hosts.end(), *args.host) == hosts.end())
            throw NotFound("no host '" + *args.host + "' in " + args.db +
                           (hosts.empty()
                                ? std::string(" (it holds no host yet)")
                                : "; the closest: " + dmon::ctl::joined(dmon::ctl::closest_names(
                                                          *args.host, hosts))));
    }
}

// ---- top ----

std::string seen_text(int64_t now, const dmon::ctl::HostOverview& host) {
    const int64_t seconds = std::max<int64_t>(0, (now - host.last_seen_ns) / 1'000'000'000);
    std::string text = seconds < 120      ? std::to_string(seconds) + " s ago"
                       : seconds < 7200   ? std::to_string(seconds / 60) + " min ago"
                       : seconds < 172800 ? std::to_string(seconds / 3600) + " h ago"
                                          : std::to_string(seconds / 86400) + " d ago";
    return host.stale ? text + " (stale)" : text;
}

Table top_table(dmon::store::Reader& reader, int64_t now) {
    Table table{{"host", "cpu", "mem used", "mem", "disk read/s", "disk write/s", "net rx/s",
                 "net tx/s", "last seen"},
                {}};
    for (const auto& host : dmon::ctl::overview(reader, {now})) {
        // A stale host's last values are no news: shown as "-", not as if they were current.
        auto value = [&](const std::optional<double>& v, const char* unit, bool rate) {
            return v && !host.stale ? Cell::of_number(*v, unit, rate) : Cell::null();
        };
        const std::optional<double> memory_share =
            host.memory_used && host.memory_limit && *host.memory_limit > 0
                ? std::optional(*host.memory_used / *host.memory_limit)
                : std::nullopt;
        table.rows.push_back(
            {Cell::of(host.host), value(host.cpu, "1", false), value(host.memory_used, "By", false),
             value(memory_share, "1", false), value(host.disk_read, "By", true),
             value(host.disk_write, "By", true), value(host.network_receive, "By", true),
             value(host.network_transmit, "By", true), Cell::of(seen_text(now, host))});
    }
    return table;
}

volatile std::sig_atomic_t g_stop = 0;

int top(const Arguments& args) {
    std::signal(SIGINT, [](int) { g_stop = 1; });
    std::signal(SIGTERM, [](int) { g_stop = 1; });
    while (!g_stop) {
        // Reopened each frame: the file may have been created meanwhile.
        const auto opened = dmon::ctl::open_reader(args.db);
        auto& reader = *opened;
        const int64_t now = now_ns();
        const Table table = top_table(reader, now);
        if (!args.once)
            std::cout << "\x1b[H\x1b[2J";  // home, clear: a refreshing screen
        std::cout << "dmon top  " << args.db << "  " << dmon::ctl::format_time_utc(now)
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

int serve(const Arguments& args) {
#ifdef DMON_WEB
    dmon::ctl::web::ServeOptions options;
    options.db = args.db;
    options.listen = args.listen;
    options.token_file = args.token_file;
    options.tls_cert = args.tls_cert;
    options.tls_key = args.tls_key;
    options.threads = args.threads;
    try {
        dmon::ctl::web::serve(
            options, [](const std::string& line) { std::cerr << line << std::endl; },
            [&](const std::string& url) {
                std::cout << "dmonctl serve: " << url << "  (store " << args.db
                          << "; Ctrl-C to stop)" << std::endl;
            });
    } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
    }
    return 0;
#else
    (void)args;
    std::cerr << "error: this dmonctl was built without the web server (DMON_WEB=OFF)\n";
    return 1;
#endif
}

int run(const Arguments& args) {
    if (args.command == "top")
        return top(args);
    if (args.command == "serve")
        return serve(args);
    if (args.command == "compact")
        return compact(args);
    if (args.command == "migrate")
        return migrate(args);
    if (args.command == "reload" || args.command == "status" || args.command == "health")
        return talk_to_host(args);
    const auto opened = dmon::ctl::open_reader(args.db);
    auto& reader = *opened;
    Table table;
    if (args.command == "hosts") {
        table = {{"host"}, {}};
        for (const auto& host : reader.hosts())
            table.rows.push_back({Cell::of(host)});
    } else if (args.command == "metrics") {
        table = {{"name", "type", "unit", "series", "hosts"}, {}};
        for (const auto& m : reader.metrics()) {
            table.rows.push_back({Cell::of(m.name), Cell::of(m.type),
                                  Cell::of(std::string(dmon::ctl::metric_unit(m.name))),
                                  Cell::of_integer(m.series), Cell::of_integer(m.hosts)});
        }
    } else if (args.command == "latest") {
        check_names(reader, args);
        table = rows_table(reader.latest(args.host, args.metric));
    } else if (args.command == "query") {
        check_names(reader, args);
        const int64_t now = now_ns();
        dmon::store::QueryRange range{args.from_ns.value_or(now - args.since.count()),
                                      args.until_ns.value_or(now)};
        if (args.step) {
            table = steps_table(
                reader.query_steps(args.metric, args.host, range, args.step->count(), args.rate));
        } else {
            table = rows_table(reader.query(args.metric, args.host, range, args.rate));
        }
    } else if (args.command == "stats") {
        table = stats_table(reader.stats());
    }
    dmon::ctl::print(table, args.format, std::cout);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 2 && std::string(argv[1]) == "--version") {
        std::cout << "dmonctl " << DMON_VERSION << "\n";
        return 0;
    }
    if (argc >= 2 && std::string(argv[1]) == "fleet")
        return dmon::ctl::fleet_main(argc, argv);
    Arguments args;
    try {
        args = parse(argc, argv);
    } catch (const UsageError& e) {
        // The command's own usage when there is one, else the list of commands.
        std::string command;
        for (int i = 1; i < argc && command.empty(); ++i)
            if (argv[i][0] != '-' && find_command(argv[i]) != nullptr)
                command = argv[i];
        std::cerr << "dmonctl: " << e.what() << "\n";
        if (!command.empty())
            std::cerr << "usage: dmonctl " << command << " " << find_command(command)->synopsis
                      << "   (dmonctl " << command << " --help for more)\n";
        else
            std::cerr << "\n" << usage();
        return 2;
    }
    if (args.help) {
        const Command* command = find_command(args.command);
        std::cout << (command != nullptr ? command_help(*command) : usage());
        return 0;
    }
    try {
        return run(args);
    } catch (const UsageError& e) {
        std::cerr << "dmonctl: " << e.what() << "\n";
        return 2;
    } catch (const NotFound& e) {
        std::cerr << "error: " << e.what() << '\n';
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << '\n';
        return 1;
    }
}
