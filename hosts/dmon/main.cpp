// dmon: the host. One program for agents and controllers; what it does is in its YAML file.
#include <dmon/core/asio.hpp>
#include <dmon/core/config.hpp>
#include <dmon/core/control_server.hpp>
#include <dmon/core/host.hpp>
#include <dmon/core/isolation.hpp>
#include <dmon/core/logging.hpp>
#include <dmon/core/plugin_instance.hpp>
#include <dmon/core/plugin_call.hpp>
#include <dmon/core/service_manager.hpp>
#include <listener.hpp>

#include <boost/asio/signal_set.hpp>

#include "print.hpp"
#include "plugin_command.hpp"
#include "windows_service.hpp"

#ifdef _WIN32
#include <windows.h>
#endif

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <thread>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitBadInput = 2;

const char* kUsage = R"(usage: dmon COMMAND [options]

commands:
  run    --config FILE [--node NAME]   run until SIGINT/SIGTERM, then flush sinks and exit
  check  --config FILE [--no-create]   parse the config, load every plugin, check every option,
                                       then create every instance in check mode (no connection,
                                       no file written) so that its own validation runs
  once   --config FILE [--node NAME]   one round of every collector, printed as line protocol
  plugin info NAME [--config FILE]     a plugin's kind, version, ABI and options (type, default, help)
  service install --config FILE [--name NAME] | uninstall [--name NAME]
                                       Windows: run as a service (auto start; stop = flush and exit)
  service prepare --data DIR --defaults DIR | remove-data --data DIR
                                       Windows: what the MSI runs (data folder, configs kept if edited)
  --version                            print the version
  --help                               print this text

Logs go to stderr. Exit status: 0 success, 1 runtime failure, 2 bad config or usage.
See docs/configuration.md for the config file.
)";

struct Arguments {
    std::string command;
    std::string config;
    std::optional<std::string> node;
    bool no_create = false;  // check: options only, no instance created
};

std::optional<Arguments> parse_arguments(int argc, char** argv, std::string& error) {
    Arguments args;
    std::vector<std::string> words(argv + 1, argv + argc);
    if (words.empty()) {
        error = "no command given";
        return std::nullopt;
    }
    args.command = words[0];
    for (size_t i = 1; i < words.size(); ++i) {
        const std::string& word = words[i];
        auto value = [&]() -> std::optional<std::string> {
            if (i + 1 >= words.size()) {
                error = word + " needs a value";
                return std::nullopt;
            }
            return words[++i];
        };
        if (word == "--config" || word == "-c") {
            auto v = value();
            if (!v)
                return std::nullopt;
            args.config = *v;
        } else if (word == "--node") {
            auto v = value();
            if (!v)
                return std::nullopt;
            args.node = *v;
        } else if (word == "--no-create" && args.command == "check") {
            args.no_create = true;
        } else {
            error = "unknown option '" + word + "' for '" + args.command + "'";
            return std::nullopt;
        }
    }
    if (args.config.empty()) {
        error = "'" + args.command + "' needs --config FILE";
        return std::nullopt;
    }
    return args;
}

void print_errors(const std::exception& e) {
    if (const auto* config = dynamic_cast<const dmon::core::ConfigError*>(&e)) {
        for (const auto& message : config->messages())
            dmon::host::print_to(stderr, "error: " + message + "\n");
    } else {
        dmon::host::print_to(stderr, std::string("error: ") + e.what() + "\n");
    }
}

void warn_about(const dmon::core::HostConfig& config) {
    for (const auto& warning :
         dmon::core::config_warnings(config, dmon::core::plugin_folders(config)))
        dmon::core::logger().warn("[config] {}", warning);
}

dmon::core::HostConfig load(const Arguments& args) {
    auto config = dmon::core::load_config(args.config);
    if (args.node)
        config.node = *args.node;
    dmon::core::set_log_level(config.log_level);
    warn_about(config);
    return config;
}

std::shared_ptr<dmon::core::PluginCatalog> catalog_for(const dmon::core::HostConfig& config) {
    return std::make_shared<dmon::core::PluginCatalog>(dmon::core::plugin_folders(config));
}

int run(const Arguments& args) {
#ifdef SIGPIPE
    // A peer that goes away mid-write (a control client, a broker) is an error to handle where
    // it happens, never a signal that ends the host without a flush.
    std::signal(SIGPIPE, SIG_IGN);
#endif
    auto config = load(args);
    auto catalog = catalog_for(config);
    const bool watch = config.watch_config;
    dmon::core::Host host(std::move(config), catalog);
    if (args.node)
        host.set_node_override(*args.node);
    host.start();
    const auto running = host.config();
    const std::string control_path = running->control.empty()
                                         ? dmon::core::default_control_path(running->node)
                                         : running->control;
    // Every way to ask for a reload (dmonctl, SIGHUP, a watched file, the Windows event) goes
    // through here, so that systemd sees RELOADING=1 and then READY=1 with the outcome.
    std::mutex reload_mutex;
    // A config given (`fleet apply`) or, without one, the file read again.
    const auto reload_with = [&](std::optional<dmon::core::HostConfig> next) {
        std::lock_guard lock(reload_mutex);
        dmon::core::notify_service_manager(dmon::core::reloading_state());
        auto outcome = next ? host.reload(std::move(*next)) : host.reload_from_file();
        dmon::core::notify_service_manager(
            "READY=1\nSTATUS=" +
            (outcome.ok ? "reloaded: generation " + std::to_string(outcome.generation)
                        : std::string("reload refused, the previous plugin set runs on: ") +
                              (outcome.errors.empty() ? "" : outcome.errors.front())));
        return outcome;
    };
    const auto reload = [&] { return reload_with(std::nullopt); };
    // `dmonctl reload` and `dmonctl status` arrive here, on the control thread.
    dmon::core::ControlServer control(
        control_path, [&host, &reload](const std::string& request) -> std::string {
            if (request == "reload")
                return reload().summary();
            if (request == "status")
                return host.status_text();
            if (request == "health")
                return host.health_text();
            return "error: unknown request '" + request + "' (reload, status, health)\n";
        });
    dmon::core::logger().info("[host] control socket {} (dmonctl reload / status / health)",
                              control.path());

    // `fleet:`: commands from admins through the broker (docs/operations.md, "Running a fleet").
    std::optional<dmon::fleet::FleetListener> fleet;
    if (running->fleet.enabled) {
        fleet.emplace(host,
                      dmon::fleet::FleetListener::Reloads{reload, [&](dmon::core::HostConfig next) {
                                                              return reload_with(std::move(next));
                                                          }});
        host.set_extra_self_metrics([listener = &*fleet](dmon::core::SampleBatch& batch,
                                                         const std::string& node, int64_t now) {
            for (const auto& [result, count] : listener->counts()) {
                batch.add("dmon.fleet.commands",
                          {std::pair<std::string_view, std::string_view>{"host", node},
                           std::pair<std::string_view, std::string_view>{"result", result}},
                          static_cast<double>(count), DMON_COUNTER, now);
            }
        });
        fleet->start();
    }

    // Opt-in: reload when the file changes (checked every 2 s; a save that breaks it is refused).
    std::atomic<bool> watching{watch};
    std::thread watcher;
    if (watch) {
        watcher = std::thread([&] {
            std::error_code ec;
            auto last = std::filesystem::last_write_time(args.config, ec);
            while (watching) {
                std::this_thread::sleep_for(std::chrono::seconds(2));
                const auto now = std::filesystem::last_write_time(args.config, ec);
                if (!ec && now != last) {
                    last = now;
                    dmon::core::logger().info("[host] {} changed: reloading", args.config);
                    reload();
                }
            }
        });
    }

#ifdef _WIN32
    // Windows has no SIGHUP: setting the named event Local\dmon-reload-<node> asks for a reload.
    const std::string event_name = "Local\\dmon-reload-" + running->node;
    HANDLE reload_event = CreateEventA(nullptr, FALSE, FALSE, event_name.c_str());
    HANDLE stop_event = CreateEventA(nullptr, TRUE, FALSE, nullptr);
    std::thread event_waiter([&] {
        const HANDLE events[] = {stop_event, reload_event};
        while (WaitForMultipleObjects(2, events, FALSE, INFINITE) == WAIT_OBJECT_0 + 1) {
            dmon::core::logger().info("[host] {} set: reloading", event_name);
            reload();
        }
    });
#endif
    boost::asio::io_context signals_io;
#ifdef SIGHUP
    boost::asio::signal_set signals(signals_io, SIGINT, SIGTERM, SIGHUP);
#else
    boost::asio::signal_set signals(signals_io, SIGINT, SIGTERM);
#endif
    int received = 0;
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int signal) {
            if (ec)
                return;
#ifdef SIGHUP
            if (signal == SIGHUP) {
                dmon::core::logger().info("[host] SIGHUP received: reloading {}", args.config);
                reload();
                signals.async_wait(on_signal);
                return;
            }
#endif
            received = signal;
        };
    signals.async_wait(on_signal);
    // Everything is up: collectors scheduled, sinks connected or retrying, the control socket
    // listening. A Type=notify unit counts as started from here.
    dmon::core::notify_service_manager(
        "READY=1\nSTATUS=collecting: " + std::to_string(running->collectors.size()) +
        " collector(s), " + std::to_string(running->sinks.size()) + " sink(s)");
    signals_io.run();
    dmon::core::notify_service_manager("STOPPING=1\nSTATUS=stopping: flushing the sinks");
    dmon::core::logger().info("[host] signal {} received: stopping", received);
    watching = false;
    if (watcher.joinable())
        watcher.join();
#ifdef _WIN32
    SetEvent(stop_event);
    event_waiter.join();
    CloseHandle(reload_event);
    CloseHandle(stop_event);
#endif
    if (fleet) {
        host.set_extra_self_metrics(nullptr);
        fleet->stop();
    }
    host.stop();
    if (!host.stopped_cleanly()) {
        // A sink's write() outlived the deadline: unloading its plugin under it would crash.
        // Exit now; spooled batches are on disk and are sent first at the next start.
        dmon::core::logger().flush();
        std::_Exit(kExitFailure);
    }
    return kExitOk;
}

// Reports every problem it can find in one go: the host's keys, then every plugin's options,
// then what each instance's own create() refuses, asked in check mode (DMON_CREATE_CHECK_ONLY:
// a sink validates its folder, URL or address without connecting, listening or writing). A sink
// built before ABI 1.3 knows no check mode and is not created: creating it might connect or
// write. --no-create stops after the options.
int check(const Arguments& args) {
    std::vector<std::string> errors;
    auto config = dmon::core::load_config(args.config, errors);
    if (args.node)
        config.node = *args.node;
    if (errors.empty())
        dmon::core::set_log_level(config.log_level);
    warn_about(config);
    auto catalog = catalog_for(config);
    std::optional<dmon::core::PluginSetPlan> plan;
    try {
        plan = dmon::core::plan_plugins(config, *catalog);
    } catch (const dmon::core::ConfigError& e) {
        errors.insert(errors.end(), e.messages().begin(), e.messages().end());
    }
    if (plan) {
        const std::string node = config.node.empty() ? dmon::core::machine_name() : config.node;
        for (const auto* list : {&plan->collectors, &plan->sinks}) {
            for (auto& planned : *list) {
                const auto& library = *planned.library;
                const bool knows_check_mode = library.descriptor().abi_minor >= 3;
                const bool is_sink = planned.config.kind == dmon::core::InstanceKind::sink;
                std::string note;
                if (args.no_create) {
                    note = " (not created: --no-create)";
                } else if (is_sink && !knows_check_mode) {
                    note = " (not created: built for plugin ABI 1." +
                           std::to_string(library.descriptor().abi_minor) +
                           ", which has no check mode)";
                } else {
                    try {
                        dmon::core::PluginInstance instance(planned.library, planned.config,
                                                            planned.options, node, true);
                    } catch (const std::exception& e) {
                        errors.emplace_back(e.what());
                        continue;
                    }
                }
                dmon::host::print_to(stdout, "ok  " + planned.config.describe() + ": " +
                                                 library.name() + ' ' + library.version() +
                                                 " from " + library.path() + note + "\n");
            }
        }
    }
    if (!errors.empty()) {
        for (const auto& message : errors)
            dmon::host::print_to(stderr, "error: " + message + "\n");
        dmon::host::print_to(stderr,
                             args.config + ": " + std::to_string(errors.size()) + " error(s)\n");
        return kExitBadInput;
    }
    dmon::host::print_to(stdout, args.config + ": " + std::to_string(plan->collectors.size()) +
                                     " collector(s), " + std::to_string(plan->sinks.size()) +
                                     " sink(s), no errors\n");
    return kExitOk;
}

int once(const Arguments& args) {
    auto config = load(args);
    auto catalog = catalog_for(config);
    const int failures = dmon::core::collect_once(config, *catalog, stdout);
    return failures == 0 ? kExitOk : kExitFailure;
}

}  // namespace

int main(int argc, char** argv) {
    // A plugin that crashes or aborts the process is named on the way down.
    dmon::core::install_crash_reporter();
    if (argc == 2 && (std::string(argv[1]) == "--version" || std::string(argv[1]) == "version")) {
        dmon::host::print_to(stdout, std::string("dmon ") + DMON_VERSION + " (plugin ABI " +
                                         std::to_string(DMON_ABI_MAJOR) + "." +
                                         std::to_string(DMON_ABI_MINOR) + ")\n");
        return kExitOk;
    }
    if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
                      std::string(argv[1]) == "help")) {
        dmon::host::print_to(stdout, kUsage);
        return kExitOk;
    }
    if (argc >= 2 && std::string(argv[1]) == "service")
        return dmon::host::service_command(argc, argv);
    // Started by a host for an instance with `isolate: true`, its socket at descriptor 3; not
    // for people (docs/plugin-sdk.md, "Isolation").
    if (argc == 2 && std::string(argv[1]) == "worker")
        return dmon::core::run_plugin_worker(3);
    if (argc >= 2 && std::string(argv[1]) == "plugin")
        return dmon::host::plugin_command(argc, argv);
    std::string error;
    const auto args = parse_arguments(argc, argv, error);
    static const std::map<std::string, int (*)(const Arguments&)> commands = {
        {"run", &run}, {"check", &check}, {"once", &once}};
    if (!args || !commands.contains(args->command)) {
        dmon::host::print_to(
            stderr, "dmon: " + (args ? "unknown command '" + args->command + "'" : error) + "\n\n" +
                        kUsage);
        return kExitBadInput;
    }
    try {
        return commands.at(args->command)(*args);
    } catch (const dmon::core::ConfigError& e) {
        print_errors(e);
        return kExitBadInput;
    } catch (const dmon::core::PluginLoadError& e) {
        print_errors(e);
        return kExitBadInput;
    } catch (const std::exception& e) {
        print_errors(e);
        return kExitFailure;
    }
}
