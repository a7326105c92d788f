#include "dmon/core/options.hpp"
#include "dmon/core/text.hpp"

#include "dmon/core/duration.hpp"

#include <charconv>
#include <cmath>

namespace dmon::core {

const char* option_type_name(uint32_t type) {
    switch (type) {
        case DMON_OPT_STRING:
            return "a string";
        case DMON_OPT_INT:
            return "a whole number";
        case DMON_OPT_DOUBLE:
            return "a number";
        case DMON_OPT_BOOL:
            return "true or false";
        case DMON_OPT_DURATION:
            return "a duration such as 500ms, 10s or 5m";
        case DMON_OPT_STRING_LIST:
            return "a list of strings";
        case DMON_OPT_MAP:
            return "a map of names to strings or to maps of strings";
        default:
            return "an unknown type";
    }
}

namespace {

bool parse_scalar(const std::string& text, uint32_t type, dmon_options::Value& value) {
    value.text = text;
    switch (type) {
        case DMON_OPT_STRING:
            return true;
        case DMON_OPT_INT: {
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value.integer);
            return ec == std::errc{} && end == text.data() + text.size();
        }
        case DMON_OPT_DOUBLE: {
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value.number);
            return ec == std::errc{} && end == text.data() + text.size() &&
                   std::isfinite(value.number);
        }
        case DMON_OPT_BOOL:
            if (text == "true")
                value.boolean = true;
            else if (text == "false")
                value.boolean = false;
            else
                return false;
            return true;
        case DMON_OPT_DURATION:
            if (auto parsed = parse_duration(text)) {
                value.duration_ns = parsed->count();
                return true;
            }
            return false;
        default:
            return false;
    }
}

// Splits a declared list default ("lo,docker*") into items.
std::vector<std::string> split_default(const std::string& text) {
    std::vector<std::string> items;
    size_t start = 0;
    while (start <= text.size() && !text.empty()) {
        size_t comma = text.find(',', start);
        if (comma == std::string::npos)
            comma = text.size();
        if (comma > start)
            items.push_back(text.substr(start, comma - start));
        start = comma + 1;
    }
    return items;
}

// A mapping of names to scalars, or to mappings of scalars (one level); null is empty.
bool parse_map(const yaml::Node& node, std::vector<dmon_options::Value::MapEntry>& out) {
    if (node.is_null())
        return true;
    if (!node.is_map())
        return false;
    for (const auto& [key_node, value] : node.entries()) {
        if (!key_node.is_scalar())
            return false;
        const std::string& key = key_node.scalar();
        if (value.is_scalar()) {
            out.push_back({key, "", value.scalar()});
        } else if (value.is_map()) {
            for (const auto& [field, field_value] : value.entries()) {
                if (!field.is_scalar() || !field_value.is_scalar())
                    return false;
                out.push_back({key, field.scalar(), field_value.scalar()});
            }
        } else {
            return false;
        }
    }
    return true;
}

}  // namespace

OptionSet validate_options(const InstanceConfig& instance, std::span<const dmon_option_decl> decls,
                           std::vector<std::string>& errors) {
    OptionSet set;
    const std::string context = instance.describe();
    auto report = [&](const Location& where, const std::string& message) {
        errors.push_back(where.to_string() + ": " + context + ": " + message);
    };
    for (const auto& [key_node, node] : instance.options.entries()) {
        const std::string& key = key_node.scalar();
        const dmon_option_decl* decl = nullptr;
        for (const auto& candidate : decls) {
            if (candidate.name != nullptr && key == candidate.name)
                decl = &candidate;
        }
        if (decl == nullptr) {
            std::vector<std::string> valid = host_keys(instance.kind);
            for (const auto& candidate : decls)
                valid.emplace_back(candidate.name);
            report(location_of(key_node, instance.location.file),
                   "unknown key '" + key + "'; valid keys: " + join(valid));
            continue;
        }
        dmon_options::Value value;
        value.type = static_cast<dmon_option_type>(decl->type);
        bool ok = true;
        if (decl->type == DMON_OPT_STRING_LIST) {
            if (node.is_scalar()) {
                value.list.push_back(node.scalar());
            } else if (node.is_sequence()) {
                for (const auto& item : node.items()) {
                    if (!item.is_scalar())
                        ok = false;
                    else
                        value.list.push_back(item.scalar());
                }
            } else if (!node.is_null()) {
                ok = false;
            }
        } else if (decl->type == DMON_OPT_MAP) {
            ok = parse_map(node, value.map);
        } else {
            ok = node.is_scalar() && parse_scalar(node.scalar(), decl->type, value);
        }
        if (!ok) {
            const std::string got = node.is_scalar() ? "'" + node.scalar() + "'"
                                    : node.is_null() ? "nothing"
                                                     : "a list or map";
            report(location_of(node, instance.location.file),
                   "option '" + key + "' must be " + option_type_name(decl->type) + "; got " + got);
            continue;
        }
        set.values.emplace(key, std::move(value));
    }
    for (const auto& decl : decls) {
        if (set.values.contains(decl.name))
            continue;
        if (decl.default_value != nullptr) {
            dmon_options::Value value;
            value.type = static_cast<dmon_option_type>(decl.type);
            const bool ok = decl.type == DMON_OPT_STRING_LIST
                                ? (value.list = split_default(decl.default_value), true)
                            : decl.type == DMON_OPT_MAP
                                ? false  // a map has no default (plugin.h)
                                : parse_scalar(decl.default_value, decl.type, value);
            if (!ok) {
                report(instance.location,
                       std::string("the plugin's default for option '") + decl.name + "' is not " +
                           option_type_name(decl.type) + " (a bug in the plugin)");
                continue;
            }
            set.values.emplace(decl.name, std::move(value));
        } else if (decl.required) {
            report(instance.location, std::string("missing required option '") + decl.name + "' (" +
                                          option_type_name(decl.type) + ": " +
                                          (decl.help ? decl.help : "") + ")");
        }
    }
    return set;
}

namespace {
const dmon_options::Value* find(const dmon_options* options, const char* name, uint32_t type) {
    if (options == nullptr || name == nullptr)
        return nullptr;
    auto it = options->values.find(std::string_view(name));
    if (it == options->values.end() || static_cast<uint32_t>(it->second.type) != type)
        return nullptr;
    return &it->second;
}
}  // namespace

int option_string(const dmon_options* options, const char* name, dmon_str* out) {
    const auto* value = find(options, name, DMON_OPT_STRING);
    if (value == nullptr)
        return 0;
    *out = dmon_str{value->text.data(), value->text.size()};
    return 1;
}
int option_int(const dmon_options* options, const char* name, int64_t* out) {
    const auto* value = find(options, name, DMON_OPT_INT);
    if (value != nullptr)
        *out = value->integer;
    return value != nullptr;
}
int option_double(const dmon_options* options, const char* name, double* out) {
    const auto* value = find(options, name, DMON_OPT_DOUBLE);
    if (value != nullptr)
        *out = value->number;
    return value != nullptr;
}
int option_bool(const dmon_options* options, const char* name, int* out) {
    const auto* value = find(options, name, DMON_OPT_BOOL);
    if (value != nullptr)
        *out = value->boolean ? 1 : 0;
    return value != nullptr;
}
int option_duration_ns(const dmon_options* options, const char* name, int64_t* out) {
    const auto* value = find(options, name, DMON_OPT_DURATION);
    if (value != nullptr)
        *out = value->duration_ns;
    return value != nullptr;
}
size_t option_list_size(const dmon_options* options, const char* name) {
    const auto* value = find(options, name, DMON_OPT_STRING_LIST);
    return value != nullptr ? value->list.size() : 0;
}
int option_list_item(const dmon_options* options, const char* name, size_t index, dmon_str* out) {
    const auto* value = find(options, name, DMON_OPT_STRING_LIST);
    if (value == nullptr || index >= value->list.size())
        return 0;
    *out = dmon_str{value->list[index].data(), value->list[index].size()};
    return 1;
}

size_t option_map_size(const dmon_options* options, const char* name) {
    const auto* value = find(options, name, DMON_OPT_MAP);
    return value != nullptr ? value->map.size() : 0;
}
int option_map_item(const dmon_options* options, const char* name, size_t index, dmon_str* key,
                    dmon_str* field, dmon_str* value) {
    const auto* option = find(options, name, DMON_OPT_MAP);
    if (option == nullptr || index >= option->map.size())
        return 0;
    const auto& entry = option->map[index];
    *key = dmon_str{entry.key.data(), entry.key.size()};
    *field = dmon_str{entry.field.data(), entry.field.size()};
    *value = dmon_str{entry.value.data(), entry.value.size()};
    return 1;
}

}  // namespace dmon::core
