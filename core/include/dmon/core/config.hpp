#pragma once

#include "dmon/core/yaml.hpp"

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace dmon::core {

// Where something sits in a config file, for error messages ("file:line:col").
struct Location {
    std::string file;
    int line = 0;    // 1-based; 0 when unknown
    int column = 0;  // 1-based
    std::string to_string() const;
};

// Every problem found in a config file; `check` collects them all before failing.
class ConfigError : public std::runtime_error {
  public:
    explicit ConfigError(std::vector<std::string> messages);
    const std::vector<std::string>& messages() const { return messages_; }

  private:
    std::vector<std::string> messages_;
};

enum class InstanceKind { collector, sink };
const char* to_string(InstanceKind kind);

// One entry of `collectors:` or `sinks:`. Keys the host does not own are plugin options,
// checked against the plugin's declarations once it is loaded.
struct InstanceConfig {
    InstanceKind kind = InstanceKind::collector;
    std::string plugin;
    std::string name;  // defaults to the plugin name
    Location location;
    std::chrono::nanoseconds interval{0};        // collectors; 0 = the host's interval
    size_t batch_size = 1000;                    // sinks: samples per write
    std::chrono::nanoseconds flush_interval{0};  // sinks; 0 = the host's interval
    size_t queue_size = 100000;                  // sinks: samples held in memory
    std::string overflow = "drop_oldest";        // sinks: drop_oldest or drop_newest
    std::string spool;                           // sinks: a folder; empty = memory only
    uint64_t spool_size = uint64_t{1} << 30;     // sinks: bytes on disk
    // Isolation (docs/plugin-sdk.md, "Isolation"): every call of the instance runs in a worker
    // process; a call that outlives `deadline`, or a worker whose memory passes `memory_limit`,
    // is killed and the worker restarted. Both apply only with `isolate: true`.
    bool isolate = false;
    std::chrono::nanoseconds deadline{std::chrono::seconds(30)};
    uint64_t memory_limit = uint64_t{1} << 30;    // bytes of resident memory; 0: none
    yaml::Node options = yaml::Node::make_map();  // the plugin's own keys
    std::string options_fingerprint;              // canonical text, to tell changed from same

    // "collector 'disks' (proc_disk)", used in every message about this instance.
    std::string describe() const;
};

// `fleet:`: the host listens for commands from admins on the broker (docs/operations.md,
// "Running a fleet"). Absent: no control channel. A part of the host's identity, not of its
// plugin set: a `fleet apply` may not change it (see hosts/fleet).
struct FleetConfig {
    bool enabled = false;
    std::vector<std::string> urls;  // one broker, or a cluster's nodes
    std::string password_file;
    std::string password_env;
    std::string exchange = "dmon.control";
    std::vector<std::string> groups;
    std::vector<std::string> admins;  // AMQP users whose commands are obeyed (user_id)
    bool accept_config = false;       // obey `apply` (a new config document)
    std::chrono::nanoseconds max_age{std::chrono::seconds(30)};
    bool operator==(const FleetConfig&) const = default;
};

struct HostConfig {
    std::string file;
    std::string node;  // default: this machine's host name
    std::chrono::nanoseconds interval{std::chrono::seconds(10)};
    std::string log_level = "info";
    std::vector<std::string> plugin_paths;  // resolved against the config file's folder
    int threads = 2;
    bool self_metrics = true;
    std::chrono::nanoseconds shutdown_timeout{std::chrono::seconds(10)};
    std::string control;  // the control socket (dmonctl reload/status); default: see control_path()
    bool watch_config = false;  // reload when the config file changes
    FleetConfig fleet;
    std::vector<InstanceConfig> collectors;
    std::vector<InstanceConfig> sinks;
};

// Replaces ${VAR} and ${VAR:-default} from the environment in one scalar value that starts
// at `at`; `$${` stays a literal `${`. Unset variables without a default are added to
// `errors`. parse_config applies it to every value after the YAML is parsed.
std::string substitute_environment(std::string_view text, const Location& at,
                                   std::vector<std::string>& errors);

// Parses config text (after substitution). Throws ConfigError listing every problem.
HostConfig parse_config(const std::string& text, const std::string& file);

// Reads, substitutes and parses a file.
HostConfig load_config(const std::string& path);

// As load_config, but problems inside a well-formed YAML file are appended to `errors` and what
// could be parsed is returned, so that `dmon check` goes on to check the plugins' options too.
// A file that cannot be read, or is not YAML, still throws ConfigError.
HostConfig load_config(const std::string& path, std::vector<std::string>& errors);

// What is legal but most likely a mistake: a plugin_paths folder that does not exist (named with
// the folders that do). One line each, for the log.
std::vector<std::string> config_warnings(const HostConfig& config,
                                         const std::vector<std::string>& searched_folders);

// The host keys an instance entry may have, before its plugin's own options.
std::vector<std::string> host_keys(InstanceKind kind);

Location location_of(const yaml::Node& node, const std::string& file);

}  // namespace dmon::core
