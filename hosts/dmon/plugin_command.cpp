#include "plugin_command.hpp"

#include "print.hpp"

#include <dmon/core/config.hpp>
#include <dmon/core/host.hpp>
#include <dmon/core/plugin_library.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace dmon::host {

namespace {

constexpr const char* kUsage =
    "usage: dmon plugin info NAME [--config FILE]\n"
    "  the plugin's kind, version, ABI and every option with its type, default and help;\n"
    "  found where the host finds plugins (--config: also that config's plugin_paths)\n";

const char* type_name(uint32_t type) {
    switch (type) {
        case DMON_OPT_STRING:
            return "string";
        case DMON_OPT_INT:
            return "integer";
        case DMON_OPT_DOUBLE:
            return "number";
        case DMON_OPT_BOOL:
            return "bool";
        case DMON_OPT_DURATION:
            return "duration";
        case DMON_OPT_STRING_LIST:
            return "list";
        case DMON_OPT_MAP:
            return "map";
        default:
            return "?";
    }
}

std::string padded(std::string text, size_t width) {
    if (text.size() < width)
        text.append(width - text.size(), ' ');
    return text;
}

std::string joined(const std::vector<std::string>& words) {
    std::string text;
    for (const auto& word : words)
        text += (text.empty() ? "" : ", ") + word;
    return text;
}

int info(const std::string& name, const std::string& config_path) {
    std::vector<std::string> folders;
    if (config_path.empty()) {
        folders.push_back(dmon::core::PluginCatalog::default_folder());
    } else {
        folders = dmon::core::plugin_folders(dmon::core::load_config(config_path));
    }
    dmon::core::PluginCatalog catalog(folders);
    const auto library = catalog.load(name);  // throws PluginLoadError, naming the folders
    const dmon_plugin_descriptor& d = library->descriptor();
    const bool collector = library->kind() == DMON_KIND_COLLECTOR;
    std::string text = library->name() + " " + library->version() + ": " +
                       (collector ? "collector" : "sink") + ", built for plugin ABI " +
                       std::to_string(d.abi_major) + "." + std::to_string(d.abi_minor) +
                       " (this host: " + std::to_string(DMON_ABI_MAJOR) + "." +
                       std::to_string(DMON_ABI_MINOR) + ")\n";
    if (d.description != nullptr && *d.description != '\0')
        text += "  " + std::string(d.description) + "\n";
    text += "file: " + library->path() + "\n";
    if ((d.flags & DMON_FLAG_NEEDS_TWO_READINGS) != 0)
        text += "needs two readings: `dmon once` primes it first\n";
    if (d.option_count == 0) {
        text += "options: none\n";
    } else {
        size_t name_width = 4;
        for (size_t i = 0; i < d.option_count; ++i)
            name_width = std::max(name_width, std::string(d.options[i].name).size());
        text += "options:\n";
        for (size_t i = 0; i < d.option_count; ++i) {
            const dmon_option_decl& option = d.options[i];
            std::string value = option.required ? "required"
                                : option.default_value != nullptr
                                    ? "default " + std::string(option.default_value)
                                    : "no default";
            text += "  " + padded(option.name, name_width) + "  " +
                    padded(type_name(option.type), 8) + "  " + padded(value, 20) + "  " +
                    (option.help != nullptr ? option.help : "") + "\n";
        }
    }
    text += "keys the host reads on every " + std::string(collector ? "collector" : "sink") +
            " entry: " +
            joined(dmon::core::host_keys(collector ? dmon::core::InstanceKind::collector
                                                   : dmon::core::InstanceKind::sink)) +
            "\n";
    print_to(stdout, text);
    return 0;
}

}  // namespace

int plugin_command(int argc, char** argv) {
    std::vector<std::string> words(argv + 2, argv + argc);
    if (words.size() < 2 || words[0] != "info") {
        print_to(stderr, kUsage);
        return 2;
    }
    std::string config;
    for (size_t i = 2; i < words.size(); ++i) {
        if ((words[i] == "--config" || words[i] == "-c") && i + 1 < words.size()) {
            config = words[++i];
        } else {
            print_to(stderr, "dmon: unknown option '" + words[i] + "' for 'plugin info'\n" +
                                 std::string(kUsage));
            return 2;
        }
    }
    try {
        return info(words[1], config);
    } catch (const dmon::core::ConfigError& e) {
        for (const auto& message : e.messages())
            print_to(stderr, "error: " + message + "\n");
    } catch (const std::exception& e) {
        print_to(stderr, std::string("error: ") + e.what() + "\n");
    }
    return 2;
}

}  // namespace dmon::host
