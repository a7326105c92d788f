#pragma once

#include <dmon/plugin.h>

#include "dmon/core/config.hpp"

#include <map>
#include <span>
#include <string>
#include <vector>

// The validated options of one instance; the C ABI sees it as the opaque dmon_options.
struct dmon_options {
    struct Value {
        dmon_option_type type = DMON_OPT_STRING;
        std::string text;  // as written (strings: the value itself)
        int64_t integer = 0;
        double number = 0;
        bool boolean = false;
        int64_t duration_ns = 0;
        std::vector<std::string> list;
        struct MapEntry {
            std::string key, field, value;
        };
        std::vector<MapEntry> map;  // DMON_OPT_MAP, in the YAML's order
    };
    std::map<std::string, Value, std::less<>> values;
};

namespace dmon::core {

using OptionSet = dmon_options;

// Checks an instance's plugin options against the plugin's declarations: unknown keys (with
// the list of valid ones), wrong types, missing required options. Appends one message per
// problem to `errors` (file:line:col: instance: what) and returns the values, defaults filled in.
OptionSet validate_options(const InstanceConfig& instance, std::span<const dmon_option_decl> decls,
                           std::vector<std::string>& errors);

// The C functions behind dmon_host_api's option_* entries.
int option_string(const dmon_options* options, const char* name, dmon_str* out);
int option_int(const dmon_options* options, const char* name, int64_t* out);
int option_double(const dmon_options* options, const char* name, double* out);
int option_bool(const dmon_options* options, const char* name, int* out);
int option_duration_ns(const dmon_options* options, const char* name, int64_t* out);
size_t option_list_size(const dmon_options* options, const char* name);
int option_list_item(const dmon_options* options, const char* name, size_t index, dmon_str* out);
size_t option_map_size(const dmon_options* options, const char* name);
int option_map_item(const dmon_options* options, const char* name, size_t index, dmon_str* key,
                    dmon_str* field, dmon_str* value);

const char* option_type_name(uint32_t type);

}  // namespace dmon::core
