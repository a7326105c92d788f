#include "fleet.hpp"

#include "output.hpp"

#include <amqp_common/connection.hpp>
#include <dmon/core/duration.hpp>
#include <dmon/str.hpp>
#include <protocol.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#ifdef _WIN32
#include <io.h>
#define isatty _isatty
#else
#include <unistd.h>
#endif

namespace dmon::ctl {

namespace amqp = dmon::plugins::amqp;
using amqp::bytes;
using json = nlohmann::json;

namespace {

constexpr const char* kUsage =
    R"(usage: dmonctl fleet status|reload|ping|apply FILE|collect [--collector NAME]...
         --url amqp://ADMIN@HOST:PORT/ (--node NAME|GLOB | --group G | --all)
         [--password-file F] [--timeout 5s] [--format table|csv|json]
         [--roster FILE] [--exchange dmon.control]

Sends one command to the agents through the broker and prints one row per node: those that
answered, and those that were expected (they answered an earlier command, as kept in the
roster file) and did not ("no answer").

  status    generation, health and instances of each agent
  reload    each agent reads its config file again (as SIGHUP)
  apply     each agent applies FILE (a config without node, plugin_paths or fleet: those stay
            each agent's own), all or nothing, and writes it to its config file once running;
            only agents with fleet.accept_config: true obey
  collect   an extra round now from the named collectors (default: all), sent like any round
  ping      who is there

  --url            the broker, as an admin user (agents obey only users in their fleet.admins)
  --password-file  the admin's password (a file of mode 0600), unless in the URL
  --node           one agent, or a glob (web-*) of agents
  --group          the agents of a group (fleet.groups)
  --all            every agent
  --timeout        how long to wait for answers (default 5s); the wait ends early once every
                   expected agent answered
  --roster         the file of agents seen (default: $XDG_STATE_HOME/dmon/fleet-roster.json)

Exit status: 0 every addressed agent answered and succeeded, 1 some failed or did not answer
(or none answered), 2 bad usage.
)";

class FleetUsage : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

std::string default_roster() {
    if (const char* state = std::getenv("XDG_STATE_HOME"); state != nullptr && *state)
        return std::string(state) + "/dmon/fleet-roster.json";
    if (const char* home = std::getenv("HOME"); home != nullptr && *home)
        return std::string(home) + "/.local/state/dmon/fleet-roster.json";
    return "fleet-roster.json";
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw FleetUsage("cannot read " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

struct FleetArguments {
    fleet::Verb verb = fleet::Verb::ping;
    std::string file;  // apply
    std::vector<std::string> collectors;
    std::string url;
    std::string password_file;
    std::string exchange = "dmon.control";
    Address address;
    std::chrono::nanoseconds timeout{std::chrono::seconds(5)};
    Format format = Format::table;
    std::string roster = default_roster();
};

FleetArguments parse_fleet(int argc, char** argv) {
    FleetArguments args;
    std::vector<std::string> words;
    int addressed = 0;
    bool fleet_seen = false;
    for (int i = 1; i < argc; ++i) {
        const std::string word = argv[i];
        const auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                throw FleetUsage(word + " needs a value");
            return argv[++i];
        };
        if (word == "--help" || word == "-h") {
            std::cout << kUsage;
            std::exit(0);
        } else if (word == "--url") {
            args.url = value();
        } else if (word == "--password-file") {
            args.password_file = value();
        } else if (word == "--exchange") {
            args.exchange = value();
        } else if (word == "--node") {
            args.address.node = value();
            ++addressed;
        } else if (word == "--group") {
            args.address.group = value();
            ++addressed;
        } else if (word == "--all") {
            args.address.all = true;
            ++addressed;
        } else if (word == "--collector") {
            args.collectors.push_back(value());
        } else if (word == "--timeout") {
            const std::string text = value();
            const auto parsed = core::parse_duration(text);
            if (!parsed)
                throw FleetUsage("--timeout needs a duration such as 5s; got '" + text + "'");
            args.timeout = *parsed;
        } else if (word == "--format") {
            const std::string f = value();
            const auto format = parse_format(f);
            if (!format)
                throw FleetUsage("--format must be table, csv or json; got '" + f + "'");
            args.format = *format;
        } else if (word == "--roster") {
            args.roster = value();
        } else if (word.rfind("--", 0) == 0) {
            throw FleetUsage("unknown option '" + word + "'");
        } else if (!fleet_seen && word == "fleet") {
            fleet_seen = true;
        } else {
            words.push_back(word);
        }
    }
    if (words.empty())
        throw FleetUsage("which command? status, reload, apply FILE, collect or ping");
    const auto verb = fleet::parse_verb(words[0]);
    if (!verb)
        throw FleetUsage("unknown fleet command '" + words[0] +
                         "' (status, reload, apply, collect, ping)");
    args.verb = *verb;
    if (args.verb == fleet::Verb::apply) {
        if (words.size() != 2)
            throw FleetUsage("apply needs the config file: dmonctl fleet apply FILE ...");
        args.file = words[1];
    } else if (words.size() > 1) {
        throw FleetUsage("unexpected '" + words[1] + "'");
    }
    if (!args.collectors.empty() && args.verb != fleet::Verb::collect)
        throw FleetUsage("--collector is for collect");
    if (args.url.empty())
        throw FleetUsage(
            "--url amqp://ADMIN@HOST:PORT/ is needed: the broker the agents listen on");
    if (addressed != 1)
        throw FleetUsage("say who: exactly one of --node NAME|GLOB, --group G, --all");
    return args;
}

bool has_glob(const std::string& text) {
    return text.find_first_of("*?") != std::string::npos;
}

Cell text_cell(const std::string& text) {
    return Cell::of(escape_text(text, 400));
}

}  // namespace

std::string Address::routing_key() const {
    if (!node.empty() && !has_glob(node))
        return "control.node." + node;
    if (!group.empty())
        return "control.group." + group;
    return "control.all";
}

std::string Address::node_glob() const {
    return has_glob(node) ? node : std::string();
}

std::set<std::string> expected_nodes(const Roster& roster, const Address& address) {
    std::set<std::string> out;
    for (const auto& [node, groups] : roster.groups_by_node) {
        const bool reached =
            address.all || (!address.node.empty() && fleet::glob_match(address.node, node)) ||
            (!address.group.empty() &&
             std::find(groups.begin(), groups.end(), address.group) != groups.end());
        if (reached)
            out.insert(node);
    }
    return out;
}

Roster load_roster(const std::string& path) {
    Roster roster;
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return roster;
    std::ostringstream text;
    text << in.rdbuf();
    const json object = json::parse(text.str(), nullptr, false);
    if (object.is_discarded() || !object.is_object() || !object.contains("nodes") ||
        !object["nodes"].is_object())
        return roster;
    for (const auto& [node, groups] : object["nodes"].items()) {
        std::vector<std::string> list;
        if (groups.is_array())
            for (const auto& group : groups)
                if (group.is_string())
                    list.push_back(group.get<std::string>());
        roster.groups_by_node[node] = std::move(list);
    }
    return roster;
}

void save_roster(const std::string& path, const Roster& roster) {
    json nodes = json::object();
    for (const auto& [node, groups] : roster.groups_by_node)
        nodes[node] = groups;
    std::error_code error;
    const std::filesystem::path target(path);
    if (target.has_parent_path())
        std::filesystem::create_directories(target.parent_path(), error);
    const std::string temporary = path + ".tmp";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        out << json{{"nodes", nodes}}.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
        if (!out)
            return;  // a roster that cannot be kept only costs the "no answer" rows next time
    }
    std::filesystem::rename(temporary, target, error);
}

int fleet_main(int argc, char** argv) {
    FleetArguments args;
    try {
        args = parse_fleet(argc, argv);
    } catch (const FleetUsage& e) {
        const std::string usage(kUsage);
        std::cerr << "dmonctl fleet: " << e.what() << "\n"
                  << usage.substr(0, usage.find("\n\n") + 1) << "(dmonctl fleet --help for more)\n";
        return 2;
    }
    try {
        fleet::Command command;
        command.id = fleet::new_command_id();
        command.verb = args.verb;
        command.nodes = args.address.node_glob();
        command.collectors = args.collectors;
        if (args.verb == fleet::Verb::apply)
            command.config = read_text(args.file);

        amqp::ConnectionSettings settings;
        settings.urls = {args.url};
        settings.password_file = args.password_file;
        if (!settings.password_file.empty())
            amqp::check_password_file(settings.password_file);
        size_t cursor = 0;
        auto connection = amqp::connect_any(settings, cursor);
        auto* state = connection->state();
        amqp_exchange_declare(state, 1, bytes(args.exchange), bytes("topic"), 0, 1, 0, 0,
                              amqp_empty_table);
        connection->check("declaring exchange " + args.exchange);
        // A queue of our own for the answers: server-named, gone when we are.
        amqp_queue_declare_ok_t* declared =
            amqp_queue_declare(state, 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
        connection->check("declaring the reply queue");
        const std::string reply_queue = amqp::text(declared->queue);
        amqp_basic_consume(state, 1, bytes(reply_queue), amqp_empty_bytes, 0, /*no_ack*/ 1, 1,
                           amqp_empty_table);
        connection->check("consuming from the reply queue");

        Roster roster = load_roster(args.roster);
        const std::set<std::string> expected = expected_nodes(roster, args.address);

        const std::string user = connection->user();
        const std::string body = fleet::encode_command([&] {
            command.at_ms = fleet::unix_ms_now();
            return command;
        }());
        const std::string expiration = std::to_string(std::max<int64_t>(
            1000, std::chrono::duration_cast<std::chrono::milliseconds>(args.timeout).count()));
        amqp_basic_properties_t properties{};
        properties._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_REPLY_TO_FLAG |
                            AMQP_BASIC_CORRELATION_ID_FLAG | AMQP_BASIC_USER_ID_FLAG |
                            AMQP_BASIC_EXPIRATION_FLAG;
        properties.content_type = amqp_cstring_bytes("application/json");
        properties.reply_to = bytes(reply_queue);
        properties.correlation_id = bytes(command.id);
        properties.user_id = bytes(user);
        // An agent that is down does not find the command waiting when it comes back.
        properties.expiration = bytes(expiration);
        const std::string key = args.address.routing_key();
        const int published = amqp_basic_publish(state, 1, bytes(args.exchange), bytes(key), 0, 0,
                                                 &properties, bytes(body));
        if (published != AMQP_STATUS_OK)
            throw amqp::AmqpError("publishing the command: " +
                                  std::string(amqp_error_string2(published)));

        std::map<std::string, fleet::Reply> answers;
        const bool progress = isatty(2) != 0;
        const auto started = std::chrono::steady_clock::now();
        const auto deadline = started + args.timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            if (!expected.empty() &&
                std::all_of(expected.begin(), expected.end(),
                            [&](const std::string& node) { return answers.contains(node); }))
                break;
            if (progress) {
                std::cerr << "\r[fleet] " << answers.size() << " answered"
                          << (expected.empty()
                                  ? std::string()
                                  : " of " + std::to_string(expected.size()) + " expected")
                          << ", "
                          << std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now() - started)
                                     .count() /
                                 1000.0
                          << " s   " << std::flush;
            }
            amqp_maybe_release_buffers(state);
            amqp_envelope_t envelope;
            timeval wait{0, 100'000};
            const amqp_rpc_reply_t reply = amqp_consume_message(state, &envelope, &wait, 0);
            if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
                reply.library_error == AMQP_STATUS_TIMEOUT)
                continue;
            if (reply.reply_type != AMQP_RESPONSE_NORMAL)
                throw amqp::AmqpError("waiting for answers: " + amqp::describe(reply));
            std::unique_ptr<amqp_envelope_t, void (*)(amqp_envelope_t*)> owned(
                &envelope, amqp_destroy_envelope);
            const std::string_view text(static_cast<const char*>(envelope.message.body.bytes),
                                        envelope.message.body.len);
            std::string error;
            auto answer = fleet::parse_reply(text, error);
            if (!answer || answer->id != command.id) {
                continue;  // an answer to an earlier command, or garbage: not ours
            }
            roster.groups_by_node[answer->node] = answer->groups;
            answers[answer->node] = std::move(*answer);
        }
        if (progress)
            std::cerr << "\r\x1b[K" << std::flush;
        save_roster(args.roster, roster);

        std::set<std::string> nodes = expected;
        for (const auto& [node, answer] : answers)
            nodes.insert(node);
        const bool status = args.verb == fleet::Verb::status;
        Table table;
        table.columns = {"node", "groups", "result", "generation", "detail"};
        if (status)
            table.columns.push_back("instances");
        size_t good = 0;
        for (const auto& node : nodes) {
            const auto found = answers.find(node);
            std::vector<Cell> row;
            if (found == answers.end()) {
                row = {text_cell(node), text_cell(core::join(roster.groups_by_node[node], ",")),
                       Cell::of("no answer"), Cell::null(), Cell::null()};
                if (status)
                    row.push_back(Cell::null());
            } else {
                const auto& answer = found->second;
                good += answer.ok ? 1 : 0;
                row = {text_cell(node), text_cell(core::join(answer.groups, ",")),
                       Cell::of(answer.ok ? "ok" : "error"),
                       Cell::of_integer(static_cast<int64_t>(answer.generation)),
                       text_cell(answer.ok ? answer.detail.substr(0, answer.detail.find('\n'))
                                           : answer.error)};
                if (status) {
                    std::vector<std::string> parts;
                    for (const auto& each : answer.instances) {
                        std::string part = each.name + "(" + each.plugin + ") " + each.state;
                        if (each.kind == "sink") {
                            part += " queued " + std::to_string(each.queued) + " spooled " +
                                    std::to_string(each.spooled) + " dropped " +
                                    std::to_string(each.dropped);
                        }
                        parts.push_back(part);
                    }
                    row.push_back(text_cell(core::join(parts, ", ")));
                }
            }
            table.rows.push_back(std::move(row));
        }
        print(table, args.format, std::cout);
        if (args.format == Format::table) {
            std::cout << answers.size() << " answered, " << (nodes.size() - answers.size())
                      << " expected did not; " << good << " ok, " << (answers.size() - good)
                      << " failed (" << fleet::to_string(args.verb) << " " << command.id << " to "
                      << key << (command.nodes.empty() ? std::string() : " nodes " + command.nodes)
                      << ")\n";
        }
        return !nodes.empty() && good == nodes.size() ? 0 : 1;
    } catch (const FleetUsage& e) {
        std::cerr << "dmonctl fleet: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace dmon::ctl
