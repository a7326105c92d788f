#include "dmon/core/config.hpp"
#include "dmon/core/spool.hpp"
#include "dmon/core/text.hpp"

#include "dmon/core/duration.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>

namespace dmon::core {

std::string Location::to_string() const {
    if (line == 0)
        return file;
    return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

namespace {
std::string join_lines(const std::vector<std::string>& messages) {
    std::string text;
    for (const auto& message : messages) {
        if (!text.empty())
            text += '\n';
        text += message;
    }
    return text;
}

}  // namespace

ConfigError::ConfigError(std::vector<std::string> messages)
    : std::runtime_error(join_lines(messages)), messages_(std::move(messages)) {}

const char* to_string(InstanceKind kind) {
    return kind == InstanceKind::collector ? "collector" : "sink";
}

std::string InstanceConfig::describe() const {
    std::string text = std::string(to_string(kind)) + " '" + name + "'";
    if (name != plugin)
        text += " (" + plugin + ")";
    return text;
}

Location location_of(const yaml::Node& node, const std::string& file) {
    const yaml::Mark mark = node.mark();
    return Location{file, mark.line, mark.column};
}

std::string substitute_environment(std::string_view text, const Location& at,
                                   std::vector<std::string>& errors) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '$' && text.substr(i, 3) == "$${") {
            out += "${";
            i += 2;
            continue;
        }
        if (c != '$' || text.substr(i, 2) != "${") {
            out += c;
            continue;
        }
        const Location where{at.file, at.line, at.column + static_cast<int>(i)};
        const size_t close = text.find('}', i + 2);
        if (close == std::string_view::npos) {
            errors.push_back(where.to_string() + ": unterminated '${' (expected '}')");
            out += c;
            continue;
        }
        std::string expression(text.substr(i + 2, close - i - 2));
        std::optional<std::string> fallback;
        if (const size_t dash = expression.find(":-"); dash != std::string::npos) {
            fallback = expression.substr(dash + 2);
            expression.resize(dash);
        }
        if (const char* value = std::getenv(expression.c_str()); value != nullptr && *value) {
            out += value;
        } else if (fallback) {
            out += *fallback;
        } else {
            errors.push_back(where.to_string() + ": environment variable '" + expression +
                             "' is not set (write ${" + expression +
                             ":-default} to give a default)");
        }
        i = close;
    }
    return out;
}

namespace {

// ${VAR} is replaced inside each parsed scalar, after the YAML is read: a value that holds
// '#', ': ' or a newline stays one value and cannot change the file's structure. Keys are left
// as written; the node keeps its position for later error messages.
void substitute_in_tree(yaml::Node& node, const std::string& file,
                        std::vector<std::string>& errors) {
    if (node.is_scalar()) {
        if (node.scalar().find('$') != std::string::npos)
            node.set_scalar(substitute_environment(node.scalar(), location_of(node, file), errors));
    } else if (node.is_map()) {
        for (auto& entry : node.entries())
            substitute_in_tree(entry.second, file, errors);
    } else if (node.is_sequence()) {
        for (auto& item : node.items())
            substitute_in_tree(item, file, errors);
    }
}

}  // namespace

std::vector<std::string> host_keys(InstanceKind kind) {
    if (kind == InstanceKind::collector)
        return {"plugin", "name", "interval", "isolate", "deadline", "memory_limit"};
    return {"plugin", "name",       "batch_size", "flush_interval", "queue_size",  "overflow",
            "spool",  "spool_size", "isolate",    "deadline",       "memory_limit"};
}

namespace {

const std::vector<std::string> kTopLevelKeys = {"node",
                                                "interval",
                                                "log_level",
                                                "plugin_paths",
                                                "threads",
                                                "self_metrics",
                                                "shutdown_timeout",
                                                "control",
                                                "watch_config",
                                                "collectors",
                                                "sinks",
                                                "fleet"};
const std::vector<std::string> kFleetKeys = {"url",          "urls",          "password_file",
                                             "password_env", "exchange",      "groups",
                                             "admins",       "accept_config", "max_age"};
const std::set<std::string> kLogLevels = {"trace", "debug", "info", "warn", "error", "off"};

class Parser {
  public:
    explicit Parser(std::string file) : file_(std::move(file)) {}

    // Problems go to `lenient_errors` when given, instead of being thrown.
    HostConfig parse(const std::string& text, std::vector<std::string>* lenient_errors = nullptr) {
        HostConfig config;
        config.file = file_;
        yaml::Node root;
        try {
            root = yaml::parse(text);
        } catch (const yaml::ParseError& e) {
            const Location where{file_, e.mark().line, e.mark().column};
            throw ConfigError({where.to_string() + ": YAML syntax error: " + e.what()});
        }
        if (root.is_null())
            throw ConfigError({file_ + ": the file is empty"});
        std::vector<std::string> substitution_errors;
        substitute_in_tree(root, file_, substitution_errors);
        if (!substitution_errors.empty())
            throw ConfigError(std::move(substitution_errors));
        if (!root.is_map()) {
            fail(root,
                 "the top level must be a map of keys (node, interval, collectors, sinks, ...)");
            throw ConfigError(errors_);
        }
        for (const auto& [key_node, value] : root.entries()) {
            const std::string key = key_text(key_node);
            if (key.empty())
                continue;  // reported by key_text
            if (key == "node") {
                // `node:` left empty (e.g. ${DMON_NODE:-}) means "this machine's host name".
                if (!value.is_null())
                    config.node = scalar(value, "node");
            } else if (key == "interval") {
                config.interval = duration(value, "interval", config.interval);
            } else if (key == "log_level") {
                config.log_level = scalar(value, "log_level");
                if (!kLogLevels.contains(config.log_level)) {
                    fail(value,
                         "log_level must be one of trace, debug, info, warn, error, off; got '" +
                             config.log_level + "'");
                }
            } else if (key == "plugin_paths") {
                config.plugin_paths = string_list(value, "plugin_paths");
            } else if (key == "threads") {
                config.threads = static_cast<int>(integer(value, "threads", 1, 64, config.threads));
            } else if (key == "self_metrics") {
                config.self_metrics = boolean(value, "self_metrics", config.self_metrics);
            } else if (key == "shutdown_timeout") {
                config.shutdown_timeout =
                    duration(value, "shutdown_timeout", config.shutdown_timeout);
            } else if (key == "control") {
                if (!value.is_null())
                    config.control = scalar(value, "control");  // empty: the default
            } else if (key == "watch_config") {
                config.watch_config = boolean(value, "watch_config", config.watch_config);
            } else if (key == "fleet") {
                fleet(value, config.fleet);
            } else if (key == "collectors") {
                instances(value, InstanceKind::collector, config.collectors);
            } else if (key == "sinks") {
                instances(value, InstanceKind::sink, config.sinks);
            } else {
                fail(key_node, "unknown key '" + key + "'; valid keys: " + join(kTopLevelKeys));
            }
        }
        check_unique_names(config);
        if (!errors_.empty()) {
            if (lenient_errors == nullptr)
                throw ConfigError(errors_);
            lenient_errors->insert(lenient_errors->end(), errors_.begin(), errors_.end());
        }
        return config;
    }

  private:
    // A word that goes into a routing key or a queue name: letters, digits, '-', '_', '.'.
    void routing_word(const yaml::Node& node, const std::string& word, const std::string& what) {
        const bool plain = !word.empty() && word.size() <= 100 &&
                           std::all_of(word.begin(), word.end(), [](char c) {
                               return std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
                                      c == '_' || c == '.';
                           });
        if (!plain) {
            fail(node,
                 what + " '" + word +
                     "' must be 1 to 100 letters, digits, '-', '_' or '.' (it is a routing "
                     "key)",
                 "fleet");
        }
    }

    void fleet(const yaml::Node& node, FleetConfig& fleet) {
        if (!node.is_map()) {
            fail(node, "fleet must be a map (url, groups, admins, accept_config, max_age)");
            return;
        }
        fleet.enabled = true;
        std::optional<std::string> url;
        for (const auto& [key_node, value] : node.entries()) {
            const std::string key = key_text(key_node, "fleet");
            if (key == "url") {
                url = scalar(value, "url", "fleet");
            } else if (key == "urls") {
                fleet.urls = string_list(value, "urls", "fleet");
            } else if (key == "password_file") {
                fleet.password_file = scalar(value, "password_file", "fleet");
            } else if (key == "password_env") {
                fleet.password_env = scalar(value, "password_env", "fleet");
            } else if (key == "exchange") {
                fleet.exchange = scalar(value, "exchange", "fleet");
                routing_word(value, fleet.exchange, "exchange");
            } else if (key == "groups") {
                fleet.groups = string_list(value, "groups", "fleet");
                for (const auto& group : fleet.groups)
                    routing_word(value, group, "group");
            } else if (key == "admins") {
                fleet.admins = string_list(value, "admins", "fleet");
            } else if (key == "accept_config") {
                fleet.accept_config = boolean(value, "accept_config", false, "fleet");
            } else if (key == "max_age") {
                fleet.max_age = duration(value, "max_age", fleet.max_age, "fleet");
            } else if (!key.empty()) {
                fail(key_node, "unknown key '" + key + "'; valid keys: " + join(kFleetKeys),
                     "fleet");
            }
        }
        if (url && !fleet.urls.empty())
            fail(node, "url and urls are both given: list every broker in urls", "fleet");
        else if (url)
            fleet.urls = {*url};
        if (fleet.urls.empty())
            fail(node, "fleet needs url (or urls): the broker that carries the commands", "fleet");
        if (fleet.admins.empty()) {
            fail(node,
                 "fleet needs admins: the AMQP users whose commands this host obeys (nobody "
                 "else's are)",
                 "fleet");
        }
    }

    void fail(const yaml::Node& node, const std::string& message, const std::string& context = {}) {
        std::string text = location_of(node, file_).to_string() + ": ";
        if (!context.empty())
            text += context + ": ";
        errors_.push_back(text + message);
    }

    // A map key as text. YAML allows a list or a map as a key ("? - x"); no dmon key is one:
    // reported, and "" returned so the caller skips it. (Found by the config fuzzer: such a key
    // threw YAML's own exception out of the parser.)
    std::string key_text(const yaml::Node& key, const std::string& context = {}) {
        if (!key.is_scalar() || key.scalar().empty()) {
            fail(key, "a key must be a plain word", context);
            return {};
        }
        return key.scalar();
    }

    std::string scalar(const yaml::Node& node, const std::string& key,
                       const std::string& context = {}) {
        if (!node.is_scalar()) {
            fail(node, key + " must be a single value", context);
            return {};
        }
        return node.scalar();
    }

    std::chrono::nanoseconds duration(const yaml::Node& node, const std::string& key,
                                      std::chrono::nanoseconds fallback,
                                      const std::string& context = {}) {
        const std::string text = scalar(node, key, context);
        if (!node.is_scalar())
            return fallback;
        if (auto parsed = parse_duration(text))
            return *parsed;
        fail(node,
             key + " must be a positive duration such as 500ms, 10s, 5m, 1h or 7d; got '" + text +
                 "'",
             context);
        return fallback;
    }

    int64_t integer(const yaml::Node& node, const std::string& key, int64_t min, int64_t max,
                    int64_t fallback, const std::string& context = {}) {
        const std::string text = scalar(node, key, context);
        if (!node.is_scalar())
            return fallback;
        try {
            size_t used = 0;
            const long long value = std::stoll(text, &used);
            if (used == text.size() && value >= min && value <= max)
                return value;
        } catch (const std::exception&) {
        }
        fail(node,
             key + " must be a whole number from " + std::to_string(min) + " to " +
                 std::to_string(max) + "; got '" + text + "'",
             context);
        return fallback;
    }

    bool boolean(const yaml::Node& node, const std::string& key, bool fallback,
                 const std::string& context = {}) {
        const std::string text = scalar(node, key, context);
        if (text == "true")
            return true;
        if (text == "false")
            return false;
        if (node.is_scalar())
            fail(node, key + " must be true or false; got '" + text + "'", context);
        return fallback;
    }

    std::vector<std::string> string_list(const yaml::Node& node, const std::string& key,
                                         const std::string& context = {}) {
        std::vector<std::string> items;
        if (node.is_null())
            return items;
        if (node.is_scalar())
            return {node.scalar()};
        if (!node.is_sequence()) {
            fail(node, key + " must be a list of strings", context);
            return items;
        }
        for (const auto& item : node.items())
            items.push_back(scalar(item, key, context));
        return items;
    }

    void instances(const yaml::Node& node, InstanceKind kind, std::vector<InstanceConfig>& out) {
        const std::string section = kind == InstanceKind::collector ? "collectors" : "sinks";
        if (node.is_null())
            return;
        if (!node.is_sequence()) {
            fail(node,
                 section +
                     " must be a list of plugin entries (each starting with '- plugin: NAME')");
            return;
        }
        for (size_t index = 0; index < node.items().size(); ++index) {
            const yaml::Node& entry = node.items()[index];
            const std::string where = section + "[" + std::to_string(index) + "]";
            if (!entry.is_map()) {
                fail(entry, "each entry must be a map with at least 'plugin: NAME'", where);
                continue;
            }
            InstanceConfig instance;
            instance.kind = kind;
            instance.location = location_of(entry, file_);
            instance.options = yaml::Node::make_map(entry.mark());
            const yaml::Node* plugin = entry.find("plugin");
            if (plugin == nullptr) {
                fail(entry, "missing key 'plugin' (the plugin library's name, e.g. proc_cpu)",
                     where);
                continue;
            }
            instance.plugin = scalar(*plugin, "plugin", where);
            instance.name = instance.plugin;
            if (const yaml::Node* name = entry.find("name"))
                instance.name = scalar(*name, "name", where);
            const std::string context = instance.describe();
            const yaml::Node* isolation_key = nullptr;  // deadline or memory_limit, if given
            for (const auto& [key_node, value] : entry.entries()) {
                const std::string key = key_text(key_node, context);
                if (key.empty())
                    continue;  // reported by key_text
                if (key == "plugin" || key == "name")
                    continue;
                if (key == "interval" && kind == InstanceKind::collector) {
                    instance.interval = duration(value, key, instance.interval, context);
                } else if (key == "batch_size" && kind == InstanceKind::sink) {
                    instance.batch_size = static_cast<size_t>(
                        integer(value, key, 1, 1'000'000, instance.batch_size, context));
                } else if (key == "flush_interval" && kind == InstanceKind::sink) {
                    instance.flush_interval =
                        duration(value, key, instance.flush_interval, context);
                } else if (key == "queue_size" && kind == InstanceKind::sink) {
                    instance.queue_size = static_cast<size_t>(
                        integer(value, key, 1, 100'000'000, instance.queue_size, context));
                } else if (key == "overflow" && kind == InstanceKind::sink) {
                    instance.overflow = scalar(value, key, context);
                    if (value.is_scalar() && instance.overflow != "drop_oldest" &&
                        instance.overflow != "drop_newest") {
                        fail(value,
                             "overflow must be drop_oldest or drop_newest; got '" +
                                 instance.overflow + "'",
                             context);
                    }
                } else if (key == "spool" && kind == InstanceKind::sink) {
                    if (!value.is_null())  // `spool:` left empty (e.g. ${DMON_SPOOL:-}): none
                        instance.spool = scalar(value, key, context);
                } else if (key == "spool_size" && kind == InstanceKind::sink) {
                    const std::string text = scalar(value, key, context);
                    const auto bytes = parse_byte_size(text);
                    if (value.is_scalar() && (!bytes || *bytes < 65536)) {
                        fail(value,
                             "spool_size must be a size of at least 64KiB such as 512MiB or "
                             "1GiB; got '" +
                                 text + "'",
                             context);
                    } else if (bytes) {
                        instance.spool_size = *bytes;
                    }
                } else if (key == "isolate") {
                    instance.isolate = boolean(value, key, instance.isolate);
                } else if (key == "deadline") {
                    instance.deadline = duration(value, key, instance.deadline, context);
                    isolation_key = &value;
                } else if (key == "memory_limit") {
                    const std::string text = scalar(value, key, context);
                    const auto bytes =
                        text == "0" ? std::optional<uint64_t>(0) : parse_byte_size(text);
                    if (value.is_scalar() && (!bytes || (*bytes != 0 && *bytes < (16u << 20)))) {
                        fail(value,
                             "memory_limit must be a size of at least 16MiB such as 512MiB, or 0 "
                             "for none; got '" +
                                 text + "'",
                             context);
                    } else if (bytes) {
                        instance.memory_limit = *bytes;
                    }
                    isolation_key = &value;
                } else {
                    instance.options.add(key_node, value);  // checked against the plugin later
                }
            }
            if (isolation_key != nullptr && !instance.isolate) {
                fail(*isolation_key,
                     "deadline and memory_limit apply only with 'isolate: true' (a plugin in "
                     "the host's process cannot be stopped or limited)",
                     context);
            }
#ifdef _WIN32
            if (instance.isolate) {
                fail(entry, "isolate: true is not available on Windows yet (Linux only)", context);
            }
#endif
            instance.options_fingerprint =
                instance.plugin + '\n' + std::to_string(instance.interval.count()) + ' ' +
                std::to_string(instance.batch_size) + ' ' +
                std::to_string(instance.flush_interval.count()) + ' ' +
                std::to_string(instance.queue_size) + ' ' + instance.overflow + ' ' +
                instance.spool + ' ' + std::to_string(instance.spool_size) + ' ' +
                (instance.isolate ? "isolated " : "in-process ") +
                std::to_string(instance.deadline.count()) + ' ' +
                std::to_string(instance.memory_limit) + '\n' + instance.options.fingerprint();
            out.push_back(std::move(instance));
        }
    }

    void check_unique_names(const HostConfig& config) {
        std::set<std::string> seen;
        for (const auto* list : {&config.collectors, &config.sinks}) {
            for (const auto& instance : *list) {
                if (!seen.insert(instance.name).second) {
                    errors_.push_back(instance.location.to_string() + ": " + instance.describe() +
                                      ": the name '" + instance.name +
                                      "' is used twice; give one of them another 'name:'");
                }
            }
        }
    }

    std::string file_;
    std::vector<std::string> errors_;
};

}  // namespace

HostConfig parse_config(const std::string& text, const std::string& file) {
    return Parser(file).parse(text);
}

namespace {

// A config is a few kB; a file much larger than any config is refused rather than read.
constexpr size_t kMaxConfigBytes = size_t{4} << 20;

std::string read_config_file(const std::string& path) {
    const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                               &std::fclose);
    if (!file)
        throw ConfigError({path + ": cannot open the config file"});
    std::string text;
    char buffer[16384];
    size_t got = 0;
    while ((got = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) {
        text.append(buffer, got);
        if (text.size() > kMaxConfigBytes)
            throw ConfigError({path + ": larger than " + std::to_string(kMaxConfigBytes >> 20) +
                               " MiB: not a config file"});
    }
    if (std::ferror(file.get()))
        throw ConfigError({path + ": cannot be read"});
    return text;
}

HostConfig load(const std::string& path, std::vector<std::string>* lenient_errors) {
    HostConfig config = Parser(path).parse(read_config_file(path), lenient_errors);
    // Relative plugin folders are relative to the config file, not to the working directory.
    const std::filesystem::path base = std::filesystem::absolute(path).parent_path();
    for (auto& folder : config.plugin_paths) {
        if (std::filesystem::path(folder).is_relative())
            folder = (base / folder).lexically_normal().string();
    }
    for (auto& sink : config.sinks) {
        if (!sink.spool.empty() && std::filesystem::path(sink.spool).is_relative())
            sink.spool = (base / sink.spool).lexically_normal().string();
    }
    return config;
}

}  // namespace

HostConfig load_config(const std::string& path) {
    return load(path, nullptr);
}

HostConfig load_config(const std::string& path, std::vector<std::string>& errors) {
    return load(path, &errors);
}

std::vector<std::string> config_warnings(const HostConfig& config,
                                         const std::vector<std::string>& searched_folders) {
    std::vector<std::string> warnings;
    for (const auto& folder : config.plugin_paths) {
        std::error_code ec;
        if (std::filesystem::is_directory(folder, ec))
            continue;
        std::string existing;
        for (const auto& other : searched_folders) {
            if (other != folder && std::filesystem::is_directory(other, ec))
                existing += (existing.empty() ? "" : ", ") + other;
        }
        warnings.push_back(
            config.file + ": plugin_paths: folder '" + folder +
            (std::filesystem::exists(folder, ec) ? "' is not a folder" : "' does not exist") +
            "; plugins are looked for in " +
            (existing.empty() ? std::string("no folder that exists") : existing));
    }
    return warnings;
}

}  // namespace dmon::core
