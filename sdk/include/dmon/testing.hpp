#pragma once
// A test harness for plugin authors (header-only, C++20; works with GoogleTest or any other
// framework): load a built plugin file, create an instance with options, call collect() or
// write() with given samples, and look at what it emitted, the status and message it returned,
// the lines it logged and the counters it added. It plays the host's part with the host's
// rules: options are typed by the plugin's declarations (an unknown or ill-typed option throws
// std::invalid_argument; defaults apply), and a sample the host would refuse (NaN or infinite,
// no name, a wrong sample_size) is counted in refused(), not in emitted().
//
//     dmon::testing::Plugin plugin("build/hello_collector.so");
//     auto hello = plugin.create({{"greeting", "hi"}});
//     ASSERT_EQ(hello.collect(), DMON_OK) << hello.error();
//     EXPECT_EQ(hello.emitted().at(0).name, "hello.rounds");
//     EXPECT_EQ(hello.emitted().at(0).labels.at("greeting"), "hi");
#include <dmon/plugin.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#endif

namespace dmon::testing {

struct Sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
    int64_t timestamp_ns = 0;  // 0: "now", as the plugin left it
    dmon_sample_type type = DMON_GAUGE;
};

struct LogLine {
    dmon_log_level level;
    std::string text;
};

// Option values as YAML would give them: scalars as text, lists as items, maps as
// (key, field, value) entries (field empty for a string value).
struct Options {
    std::map<std::string, std::string> scalars;
    std::map<std::string, std::vector<std::string>> lists;
    std::map<std::string, std::vector<std::array<std::string, 3>>> maps;

    Options() = default;
    Options(std::initializer_list<std::pair<const std::string, std::string>> values)
        : scalars(values) {}
};

namespace detail {

inline std::string_view view(dmon_str text) {
    return text.data != nullptr ? std::string_view(text.data, text.size) : std::string_view();
}

// "500ms", "10s", "5m", "2h", "7d" or a number of seconds, as the host reads a duration.
inline int64_t parse_duration_ns(const std::string& text) {
    size_t used = 0;
    const double number = std::stod(text, &used);
    const std::string unit = text.substr(used);
    const double scale = unit.empty() || unit == "s" ? 1e9
                         : unit == "ms"              ? 1e6
                         : unit == "us"              ? 1e3
                         : unit == "ns"              ? 1
                         : unit == "m"               ? 60e9
                         : unit == "h"               ? 3600e9
                         : unit == "d"               ? 86400e9
                                                     : -1;
    if (scale < 0 || !std::isfinite(number) || number <= 0)
        throw std::invalid_argument("not a duration: '" + text + "'");
    return static_cast<int64_t>(number * scale);
}

struct Value {
    uint32_t type = DMON_OPT_STRING;
    std::string text;
    int64_t integer = 0;
    double number = 0;
    bool boolean = false;
    std::vector<std::string> list;
    std::vector<std::array<std::string, 3>> map;
};

struct OptionTable {
    std::map<std::string, Value> values;
    const Value* find(const char* name, uint32_t type) const {
        auto it = values.find(name);
        return it != values.end() && it->second.type == type ? &it->second : nullptr;
    }
};

struct Recorder {
    std::string instance_name;
    std::vector<LogLine> log;
    std::map<std::string, uint64_t> counters;
    std::vector<Sample> emitted;
    size_t refused = 0;
};

inline Recorder* recorder(dmon_host* host) {
    return reinterpret_cast<Recorder*>(host);
}
inline const OptionTable* table(const dmon_options* options) {
    return reinterpret_cast<const OptionTable*>(options);
}

inline void api_log(dmon_host* host, dmon_log_level level, dmon_str message) {
    recorder(host)->log.push_back({level, std::string(view(message))});
}
inline int64_t api_now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}
inline int api_string(const dmon_options* options, const char* name, dmon_str* out) {
    const Value* value = table(options)->find(name, DMON_OPT_STRING);
    if (value == nullptr)
        return 0;
    *out = dmon_str{value->text.data(), value->text.size()};
    return 1;
}
inline int api_int(const dmon_options* options, const char* name, int64_t* out) {
    const Value* value = table(options)->find(name, DMON_OPT_INT);
    return value != nullptr ? (*out = value->integer, 1) : 0;
}
inline int api_double(const dmon_options* options, const char* name, double* out) {
    const Value* value = table(options)->find(name, DMON_OPT_DOUBLE);
    return value != nullptr ? (*out = value->number, 1) : 0;
}
inline int api_bool(const dmon_options* options, const char* name, int* out) {
    const Value* value = table(options)->find(name, DMON_OPT_BOOL);
    return value != nullptr ? (*out = value->boolean ? 1 : 0, 1) : 0;
}
inline int api_duration(const dmon_options* options, const char* name, int64_t* out) {
    const Value* value = table(options)->find(name, DMON_OPT_DURATION);
    return value != nullptr ? (*out = value->integer, 1) : 0;
}
inline size_t api_list_size(const dmon_options* options, const char* name) {
    const Value* value = table(options)->find(name, DMON_OPT_STRING_LIST);
    return value != nullptr ? value->list.size() : 0;
}
inline int api_list_item(const dmon_options* options, const char* name, size_t index,
                         dmon_str* out) {
    const Value* value = table(options)->find(name, DMON_OPT_STRING_LIST);
    if (value == nullptr || index >= value->list.size())
        return 0;
    *out = dmon_str{value->list[index].data(), value->list[index].size()};
    return 1;
}
inline size_t api_map_size(const dmon_options* options, const char* name) {
    const Value* value = table(options)->find(name, DMON_OPT_MAP);
    return value != nullptr ? value->map.size() : 0;
}
inline int api_map_item(const dmon_options* options, const char* name, size_t index, dmon_str* key,
                        dmon_str* field, dmon_str* out) {
    const Value* value = table(options)->find(name, DMON_OPT_MAP);
    if (value == nullptr || index >= value->map.size())
        return 0;
    const auto& entry = value->map[index];
    *key = dmon_str{entry[0].data(), entry[0].size()};
    *field = dmon_str{entry[1].data(), entry[1].size()};
    *out = dmon_str{entry[2].data(), entry[2].size()};
    return 1;
}
// The emitter handle is the recorder itself: collect() runs with one at a time.
inline dmon_status api_emit(dmon_emitter* emitter, const dmon_sample* samples, size_t count,
                            size_t sample_size) {
    auto* rec = reinterpret_cast<Recorder*>(emitter);
    if (count == 0)
        return DMON_OK;
    if (samples == nullptr || sample_size < offsetof(dmon_sample, type) + sizeof(uint32_t) ||
        sample_size > 1024) {
        rec->refused += count;
        return DMON_INVALID;
    }
    const auto* base = reinterpret_cast<const unsigned char*>(samples);
    for (size_t i = 0; i < count; ++i) {
        const auto& raw = *reinterpret_cast<const dmon_sample*>(base + i * sample_size);
        if (raw.name.size == 0 || raw.name.data == nullptr ||
            (raw.label_count > 0 && raw.labels == nullptr) || !std::isfinite(raw.value)) {
            ++rec->refused;
            continue;
        }
        Sample sample;
        sample.name = std::string(view(raw.name));
        for (size_t l = 0; l < raw.label_count; ++l)
            sample.labels[std::string(view(raw.labels[l].key))] =
                std::string(view(raw.labels[l].value));
        sample.value = raw.value;
        sample.timestamp_ns = raw.timestamp_ns;
        sample.type = static_cast<dmon_sample_type>(raw.type);
        rec->emitted.push_back(std::move(sample));
    }
    return DMON_OK;
}
// Completions are acknowledged at once, as if every sink had written the batch.
inline dmon_status api_emit_with_completion(dmon_emitter* emitter, const dmon_sample* samples,
                                            size_t count, size_t sample_size, dmon_str,
                                            dmon_completion_fn done, void* user_data) {
    const dmon_status status = api_emit(emitter, samples, count, sample_size);
    if (status == DMON_OK && done != nullptr)
        done(user_data, DMON_OK);
    return status;
}
inline void api_count(dmon_host* host, dmon_str counter, uint64_t delta) {
    recorder(host)->counters[std::string(view(counter))] += delta;
}

inline const dmon_host_api* host_api() {
    static const dmon_host_api api = {
        sizeof(dmon_host_api),
        DMON_ABI_MAJOR,
        &api_log,
        &api_now_ns,
        &api_string,
        &api_int,
        &api_double,
        &api_bool,
        &api_duration,
        &api_list_size,
        &api_list_item,
        &api_emit,
        &api_emit_with_completion,
        &api_count,
        &api_map_size,
        &api_map_item,
    };
    return &api;
}

// The plugin's declarations decide each option's type; unknown names and bad values throw.
inline OptionTable typed_options(const dmon_plugin_descriptor& d, const Options& given) {
    OptionTable table;
    auto declared = [&](const std::string& name) -> const dmon_option_decl* {
        for (size_t i = 0; i < d.option_count; ++i) {
            if (name == d.options[i].name)
                return &d.options[i];
        }
        throw std::invalid_argument("option '" + name + "' is not declared by " + d.name);
    };
    auto scalar = [](const dmon_option_decl& decl, const std::string& text) {
        Value value;
        value.type = decl.type;
        value.text = text;
        size_t used = 0;
        switch (decl.type) {
            case DMON_OPT_INT:
                value.integer = std::stoll(text, &used);
                break;
            case DMON_OPT_DOUBLE:
                value.number = std::stod(text, &used);
                break;
            case DMON_OPT_BOOL:
                if (text != "true" && text != "false")
                    throw std::invalid_argument(std::string("option '") + decl.name +
                                                "' must be true or false; got '" + text + "'");
                value.boolean = text == "true";
                used = text.size();
                break;
            case DMON_OPT_DURATION:
                value.integer = parse_duration_ns(text);
                used = text.size();
                break;
            case DMON_OPT_STRING_LIST: {
                // A default is comma-separated (plugin.h).
                size_t start = 0;
                while (start <= text.size() && !text.empty()) {
                    const size_t comma = text.find(',', start);
                    value.list.push_back(text.substr(start, comma - start));
                    if (comma == std::string::npos)
                        break;
                    start = comma + 1;
                }
                used = text.size();
                break;
            }
            default:
                used = text.size();
        }
        if (used != text.size())
            throw std::invalid_argument(std::string("option '") + decl.name + "': '" + text +
                                        "' is not a " +
                                        (decl.type == DMON_OPT_INT ? "whole number" : "number"));
        return value;
    };
    for (size_t i = 0; i < d.option_count; ++i) {
        const dmon_option_decl& decl = d.options[i];
        if (decl.default_value != nullptr)
            table.values[decl.name] = scalar(decl, decl.default_value);
    }
    for (const auto& [name, text] : given.scalars)
        table.values[name] = scalar(*declared(name), text);
    for (const auto& [name, items] : given.lists) {
        Value value;
        value.type = declared(name)->type;
        value.list = items;
        table.values[name] = value;
    }
    for (const auto& [name, entries] : given.maps) {
        Value value;
        value.type = declared(name)->type;
        value.map = entries;
        table.values[name] = value;
    }
    for (size_t i = 0; i < d.option_count; ++i) {
        if (d.options[i].required && !table.values.contains(d.options[i].name))
            throw std::invalid_argument(std::string("option '") + d.options[i].name +
                                        "' is required");
    }
    return table;
}

}  // namespace detail

// One created instance. Not copyable; destroyed (the plugin's destroy()) with the object.
class Instance {
  public:
    Instance(const dmon_plugin_descriptor& descriptor, detail::OptionTable options,
             std::string name, std::string node, bool check_only)
        : descriptor_(&descriptor),
          options_(std::make_unique<detail::OptionTable>(std::move(options))),
          recorder_(std::make_unique<detail::Recorder>()),
          name_(std::move(name)),
          node_(std::move(node)) {
        recorder_->instance_name = name_;
        dmon_create_args args{};
        args.struct_size = sizeof(args);
        args.abi_major = DMON_ABI_MAJOR;
        args.api = detail::host_api();
        args.host = reinterpret_cast<dmon_host*>(recorder_.get());
        args.options = reinterpret_cast<const dmon_options*>(options_.get());
        args.instance_name = dmon_str{name_.data(), name_.size()};
        args.node = dmon_str{node_.data(), node_.size()};
        args.flags = check_only ? DMON_CREATE_CHECK_ONLY : 0u;
        create_status_ =
            call([&](dmon_error* error) { return descriptor_->create(&args, &state_, error); });
    }
    ~Instance() {
        if (state_ != nullptr)
            descriptor_->destroy(state_);
    }
    Instance(const Instance&) = delete;
    Instance& operator=(const Instance&) = delete;
    Instance(Instance&& other) noexcept
        : descriptor_(other.descriptor_),
          options_(std::move(other.options_)),
          recorder_(std::move(other.recorder_)),
          name_(std::move(other.name_)),
          node_(std::move(other.node_)),
          state_(std::exchange(other.state_, nullptr)),
          create_status_(other.create_status_),
          error_(std::move(other.error_)) {}

    // DMON_OK when create() succeeded; otherwise error() says why.
    dmon_status create_status() const { return create_status_; }
    bool created() const { return state_ != nullptr && create_status_ == DMON_OK; }

    // One collect(): emitted() holds this round's samples only.
    dmon_status collect() {
        require(descriptor_->collect != nullptr, "collect");
        recorder_->emitted.clear();
        recorder_->refused = 0;
        return call([&](dmon_error* error) {
            return descriptor_->collect(state_, reinterpret_cast<dmon_emitter*>(recorder_.get()),
                                        error);
        });
    }

    // One write() of these samples as one batch with this id.
    dmon_status write(const std::vector<Sample>& samples, const std::string& id = "test:1") {
        require(descriptor_->write != nullptr, "write");
        std::vector<dmon_sample> raw(samples.size());
        std::vector<std::vector<dmon_label>> labels(samples.size());
        for (size_t i = 0; i < samples.size(); ++i) {
            for (const auto& [key, value] : samples[i].labels)
                labels[i].push_back({{key.data(), key.size()}, {value.data(), value.size()}});
            raw[i].name = {samples[i].name.data(), samples[i].name.size()};
            raw[i].labels = labels[i].data();
            raw[i].label_count = labels[i].size();
            raw[i].value = samples[i].value;
            raw[i].timestamp_ns = samples[i].timestamp_ns;
            raw[i].type = samples[i].type;
        }
        dmon_batch batch{};
        batch.struct_size = sizeof(batch);
        batch.samples = raw.data();
        batch.sample_count = raw.size();
        batch.sample_size = sizeof(dmon_sample);
        batch.id = {id.data(), id.size()};
        return call([&](dmon_error* error) { return descriptor_->write(state_, &batch, error); });
    }

    dmon_status flush() {
        if (descriptor_->flush == nullptr)
            return DMON_OK;
        return call([&](dmon_error* error) { return descriptor_->flush(state_, error); });
    }

    const std::vector<Sample>& emitted() const { return recorder_->emitted; }
    size_t refused() const { return recorder_->refused; }  // samples the host would refuse
    const std::vector<LogLine>& log() const { return recorder_->log; }
    const std::map<std::string, uint64_t>& counters() const { return recorder_->counters; }
    // The message of the last call that did not return DMON_OK.
    const std::string& error() const { return error_; }

  private:
    template <typename Call>
    dmon_status call(Call&& function) {
        dmon_error error{};
        error.struct_size = sizeof(error);
        dmon_status status;
        try {
            status = function(&error);
        } catch (const std::exception& e) {
            error_ = std::string("threw through the C ABI: ") + e.what();
            return DMON_ERROR;
        }
        if (status != DMON_OK)
            error_.assign(error.message, strnlen(error.message, sizeof(error.message)));
        return status;
    }
    void require(bool present, const char* what) const {
        if (!present || state_ == nullptr)
            throw std::logic_error(
                std::string("cannot call ") + what + "(): " +
                (state_ == nullptr ? "create() failed: " + error_ : "the plugin has none"));
    }

    const dmon_plugin_descriptor* descriptor_;
    std::unique_ptr<detail::OptionTable> options_;
    std::unique_ptr<detail::Recorder> recorder_;
    std::string name_;
    std::string node_;
    void* state_ = nullptr;
    dmon_status create_status_ = DMON_ERROR;
    std::string error_;
};

// A plugin file, loaded for the test's lifetime (never unloaded: instances may outlive a
// Plugin object in a test's locals, and unloading buys a test nothing).
class Plugin {
  public:
    explicit Plugin(const std::string& path) {
#ifdef _WIN32
        HMODULE library = LoadLibraryA(path.c_str());
        if (library == nullptr)
            throw std::runtime_error("cannot load " + path);
        auto entry = reinterpret_cast<dmon_plugin_entry_fn>(
            GetProcAddress(library, DMON_PLUGIN_ENTRY_SYMBOL));
#else
        void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (library == nullptr)
            throw std::runtime_error("cannot load " + path + ": " + dlerror());
        auto entry =
            reinterpret_cast<dmon_plugin_entry_fn>(dlsym(library, DMON_PLUGIN_ENTRY_SYMBOL));
#endif
        if (entry == nullptr)
            throw std::runtime_error(path + " does not export " DMON_PLUGIN_ENTRY_SYMBOL);
        descriptor_ = entry();
        if (descriptor_ == nullptr || descriptor_->abi_major != DMON_ABI_MAJOR)
            throw std::runtime_error(path + ": no descriptor, or another ABI major");
    }

    const dmon_plugin_descriptor& descriptor() const {
        return *descriptor_;
    }

    // Creates an instance as the host would: options typed by the declarations, defaults
    // applied. Throws std::invalid_argument for an option the host would refuse; a create()
    // that fails is reported by the instance (create_status(), error()).
    Instance create(const Options& options = {}, const std::string& name = "",
                    const std::string& node = "test-node") const {
        return Instance(*descriptor_, detail::typed_options(*descriptor_, options),
                        name.empty() ? descriptor_->name : name, node, false);
    }
    // As create, in `dmon check`'s check mode (DMON_CREATE_CHECK_ONLY).
    Instance check(const Options& options = {}) const {
        return Instance(*descriptor_, detail::typed_options(*descriptor_, options),
                        descriptor_->name, "test-node", true);
    }

  private:
    const dmon_plugin_descriptor* descriptor_ = nullptr;
};

}  // namespace dmon::testing
