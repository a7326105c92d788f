// Header-only C++ wrapper over the C ABI in plugin.h.
//
// A plugin is a class constructed from a Context, with collect(Emitter&) (collectors) or
// write(const Batch&) and optionally flush() (sinks), registered with one macro:
//
//   class Hello : public dmon::sdk::Collector {
//   public:
//       explicit Hello(const dmon::sdk::Context& context) {}
//       void collect(dmon::sdk::Emitter& out) override { out.gauge("hello.value", {}, 1.0); }
//   };
//   DMON_COLLECTOR_PLUGIN(Hello, "hello", "1.0.0", "says hello", dmon::sdk::kNoOptions, 0)
//
// Exceptions never cross the ABI: the trampolines are noexcept and turn an exception into
// an error status carrying its message (dmon::sdk::InvalidInput becomes DMON_INVALID).
#pragma once

#include <dmon/plugin.h>
#include <dmon/str.hpp>

#include <algorithm>
#include <cstring>
#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace dmon::sdk {

// Thrown by a plugin for bad options or input: reported as DMON_INVALID (no point retrying).
class InvalidInput : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

using dmon::to_str;
using dmon::to_view;

// Option declarations, usable in a constexpr array.
constexpr dmon_option_decl option(const char* name, dmon_option_type type,
                                  const char* default_value, const char* help,
                                  bool required = false) {
    return dmon_option_decl{sizeof(dmon_option_decl), name,          static_cast<uint32_t>(type),
                            required ? 1u : 0u,       default_value, help};
}
inline constexpr std::span<const dmon_option_decl> kNoOptions{};

class Host {
  public:
    Host(const dmon_host_api* api, dmon_host* host) : api_(api), host_(host) {}
    void log(dmon_log_level level, std::string_view message) const {
        api_->log(host_, level, to_str(message));
    }
    void debug(std::string_view message) const { log(DMON_LOG_DEBUG, message); }
    void info(std::string_view message) const { log(DMON_LOG_INFO, message); }
    void warn(std::string_view message) const { log(DMON_LOG_WARN, message); }
    void error(std::string_view message) const { log(DMON_LOG_ERROR, message); }
    int64_t now_ns() const { return api_->now_ns(); }
    // Adds to the instance's own counter, reported as dmon.plugin.<name>.
    void count(std::string_view counter, uint64_t delta = 1) const {
        api_->count(host_, to_str(counter), delta);
    }
    const dmon_host_api* api() const { return api_; }

  private:
    const dmon_host_api* api_;
    dmon_host* host_;
};

// Typed access to the instance's options. The host has already validated types, so a getter
// only returns nullopt for an option that has neither a value nor a default.
class Options {
  public:
    Options(const dmon_host_api* api, const dmon_options* options) : api_(api), options_(options) {}

    std::optional<std::string> string(const char* name) const {
        dmon_str out{};
        if (!api_->option_string(options_, name, &out))
            return std::nullopt;
        return std::string(to_view(out));
    }
    std::optional<int64_t> integer(const char* name) const {
        int64_t out = 0;
        return api_->option_int(options_, name, &out) ? std::optional(out) : std::nullopt;
    }
    std::optional<double> number(const char* name) const {
        double out = 0;
        return api_->option_double(options_, name, &out) ? std::optional(out) : std::nullopt;
    }
    std::optional<bool> boolean(const char* name) const {
        int out = 0;
        return api_->option_bool(options_, name, &out) ? std::optional(out != 0) : std::nullopt;
    }
    std::optional<int64_t> duration_ns(const char* name) const {
        int64_t out = 0;
        return api_->option_duration_ns(options_, name, &out) ? std::optional(out) : std::nullopt;
    }
    // The value of an option whose declaration has a default: the YAML's, else that default.
    // The host resolves defaults from the declaration, so a plugin never writes one twice.
    // Throws InvalidInput naming the option if it has no value (declared without a default).
    std::string string_value(const char* name) const { return must(string(name), name); }
    int64_t integer_value(const char* name) const { return must(integer(name), name); }
    double number_value(const char* name) const { return must(number(name), name); }
    bool bool_value(const char* name) const { return must(boolean(name), name); }
    int64_t duration_value_ns(const char* name) const { return must(duration_ns(name), name); }

    std::vector<std::string> list(const char* name) const {
        std::vector<std::string> items;
        const size_t count = api_->option_list_size(options_, name);
        for (size_t i = 0; i < count; ++i) {
            dmon_str item{};
            if (api_->option_list_item(options_, name, i, &item))
                items.emplace_back(to_view(item));
        }
        return items;
    }

    // A DMON_OPT_MAP option: one entry per string value, one per field of a mapping value.
    struct MapEntry {
        std::string key;
        std::string field;  // empty for `key: value`
        std::string value;
    };
    std::vector<MapEntry> map(const char* name) const {
        std::vector<MapEntry> entries;
        if (api_->struct_size < offsetof(dmon_host_api, option_map_item) + sizeof(void*))
            throw InvalidInput(std::string("option '") + name +
                               "' is a map: this host is older than ABI 1.2 and cannot pass it");
        const size_t count = api_->option_map_size(options_, name);
        for (size_t i = 0; i < count; ++i) {
            dmon_str key{}, field{}, value{};
            if (api_->option_map_item(options_, name, i, &key, &field, &value))
                entries.push_back({std::string(to_view(key)), std::string(to_view(field)),
                                   std::string(to_view(value))});
        }
        return entries;
    }

  private:
    template <typename T>
    static T must(std::optional<T> value, const char* name) {
        if (!value)
            throw InvalidInput(std::string("option '") + name + "' has no value and no default");
        return *std::move(value);
    }
    const dmon_host_api* api_;
    const dmon_options* options_;
};

// What a plugin's constructor receives. Valid for the plugin object's whole life.
struct Context {
    Host host;
    Options options;
    std::string instance_name;
    std::string node;
    // `dmon check` is creating the instance only to validate it (DMON_CREATE_CHECK_ONLY): check
    // options, folders and files, but connect, listen, create and open for writing nothing.
    bool check_only = false;
};

struct Label {
    std::string_view key;
    std::string_view value;
};

// Collects samples during one collect() call and hands them to the host in one piece when
// the call returns (or at flush()). Strings are copied into one arena, so callers may pass
// temporaries.
class Emitter {
  public:
    Emitter(const dmon_host_api* api, dmon_emitter* emitter) : api_(api), emitter_(emitter) {}

    void gauge(std::string_view name, std::initializer_list<Label> labels, double value) {
        add(name, labels.begin(), labels.end(), value, DMON_GAUGE, 0);
    }
    void counter(std::string_view name, std::initializer_list<Label> labels, double value) {
        add(name, labels.begin(), labels.end(), value, DMON_COUNTER, 0);
    }
    template <typename LabelIt>
    void add(std::string_view name, LabelIt first, LabelIt last, double value,
             dmon_sample_type type, int64_t timestamp_ns) {
        Pending pending{};
        pending.name = store(name);
        pending.label_begin = labels_.size();
        for (; first != last; ++first) {
            labels_.push_back({store(first->key), store(first->value)});
        }
        pending.label_end = labels_.size();
        pending.value = value;
        pending.type = type;
        pending.timestamp_ns = timestamp_ns;
        pending_.push_back(pending);
    }
    size_t pending_count() const { return pending_.size(); }

    // Hand buffered samples to the host.
    void flush() { hand_over(nullptr); }

    // Hand buffered samples to the host; on_done runs once every sink has durably written
    // them (true) or the host gave up (false). See emit_with_completion in plugin.h.
    void flush_with_completion(std::string_view origin, std::function<void(bool)> on_done) {
        hand_over(std::make_unique<std::function<void(bool)>>(std::move(on_done)), origin);
    }

  private:
    struct Span {
        size_t offset;
        size_t size;
    };
    struct Pending {
        Span name;
        size_t label_begin, label_end;
        double value;
        dmon_sample_type type;
        int64_t timestamp_ns;
    };
    Span store(std::string_view text) {
        Span span{arena_.size(), text.size()};
        arena_.append(text);
        return span;
    }
    dmon_str at(Span span) const { return dmon_str{arena_.data() + span.offset, span.size}; }

    void hand_over(std::unique_ptr<std::function<void(bool)>> on_done,
                   std::string_view origin = {}) {
        if (pending_.empty() && !on_done)
            return;
        // Pointers into arena_ are only taken now that it no longer grows.
        std::vector<dmon_label> labels;
        labels.reserve(labels_.size());
        for (const auto& [key, value] : labels_)
            labels.push_back({at(key), at(value)});
        std::vector<dmon_sample> samples;
        samples.reserve(pending_.size());
        for (const Pending& p : pending_) {
            dmon_sample s{};
            s.name = at(p.name);
            s.labels = labels.data() + p.label_begin;
            s.label_count = p.label_end - p.label_begin;
            s.value = p.value;
            s.timestamp_ns = p.timestamp_ns;
            s.type = static_cast<uint32_t>(p.type);
            samples.push_back(s);
        }
        dmon_status status;
        if (on_done) {
            auto* callback = on_done.release();
            status = api_->emit_with_completion(
                emitter_, samples.data(), samples.size(), sizeof(dmon_sample), to_str(origin),
                [](void* user, dmon_status result) {
                    std::unique_ptr<std::function<void(bool)>> owned(
                        static_cast<std::function<void(bool)>*>(user));
                    (*owned)(result == DMON_OK);
                },
                callback);
            if (status != DMON_OK)
                delete callback;  // the host did not take it
        } else {
            status = api_->emit(emitter_, samples.data(), samples.size(), sizeof(dmon_sample));
        }
        pending_.clear();
        labels_.clear();
        arena_.clear();
        if (status != DMON_OK)
            throw std::runtime_error("the host refused the samples");
    }

    const dmon_host_api* api_;
    dmon_emitter* emitter_;
    std::string arena_;
    std::vector<std::pair<Span, Span>> labels_;
    std::vector<Pending> pending_;
};

// A read-only view of one sample in a batch.
struct SampleView {
    const dmon_sample* raw;
    std::string_view name() const { return to_view(raw->name); }
    size_t label_count() const { return raw->label_count; }
    std::string_view label_key(size_t i) const { return to_view(raw->labels[i].key); }
    std::string_view label_value(size_t i) const { return to_view(raw->labels[i].value); }
    double value() const { return raw->value; }
    int64_t timestamp_ns() const { return raw->timestamp_ns; }
    dmon_sample_type type() const { return static_cast<dmon_sample_type>(raw->type); }
};

// The batch a sink's write() receives; samples are walked with the host's element size.
class Batch {
  public:
    explicit Batch(const dmon_batch* batch) : batch_(batch) {}
    size_t size() const { return batch_->sample_count; }
    SampleView operator[](size_t i) const {
        const auto* base = reinterpret_cast<const unsigned char*>(batch_->samples);
        return SampleView{reinterpret_cast<const dmon_sample*>(base + i * batch_->sample_size)};
    }
    const dmon_batch* raw() const { return batch_; }
    std::span<const dmon_origin> origins() const {
        if (batch_->struct_size < offsetof(dmon_batch, origin_count) + sizeof(size_t) ||
            batch_->origins == nullptr) {
            return {};
        }
        return {batch_->origins, batch_->origin_count};
    }
    // The host's id of this batch (same on every retry); empty from a host older than ABI 1.1.
    std::string_view id() const {
        if (batch_->struct_size < offsetof(dmon_batch, id) + sizeof(dmon_str) ||
            batch_->id.data == nullptr) {
            return {};
        }
        return {batch_->id.data, batch_->id.size};
    }

  private:
    const dmon_batch* batch_;
};

class Collector {
  public:
    virtual ~Collector() = default;
    virtual void collect(Emitter& out) = 0;
};

class Sink {
  public:
    virtual ~Sink() = default;
    virtual void write(const Batch& batch) = 0;
    virtual void flush() {}
};

namespace detail {

inline void set_error(dmon_error* error, std::string_view message) {
    if (error == nullptr)
        return;
    const size_t n = std::min(message.size(), sizeof(error->message) - 1);
    std::memcpy(error->message, message.data(), n);
    error->message[n] = '\0';
}

// Runs body; turns any exception into a status and a message.
template <typename Body>
dmon_status guarded(dmon_error* error, Body&& body) noexcept {
    try {
        body();
        return DMON_OK;
    } catch (const InvalidInput& e) {
        set_error(error, e.what());
        return DMON_INVALID;
    } catch (const std::exception& e) {
        set_error(error, e.what());
        return DMON_ERROR;
    } catch (...) {
        set_error(error, "unknown exception");
        return DMON_ERROR;
    }
}

template <typename Plugin>
struct Instance {
    Context context;
    std::unique_ptr<Plugin> plugin;
};

template <typename Plugin>
dmon_status create(const dmon_create_args* args, void** out, dmon_error* error) noexcept {
    return guarded(error, [&] {
        auto instance = std::make_unique<Instance<Plugin>>(Instance<Plugin>{
            Context{Host(args->api, args->host), Options(args->api, args->options),
                    std::string(to_view(args->instance_name)), std::string(to_view(args->node)),
                    args->struct_size >= offsetof(dmon_create_args, flags) + sizeof(uint32_t) &&
                        (args->flags & DMON_CREATE_CHECK_ONLY) != 0},
            nullptr});
        instance->plugin = std::make_unique<Plugin>(instance->context);
        *out = instance.release();
    });
}

template <typename Plugin>
void destroy(void* instance) noexcept {
    try {
        delete static_cast<Instance<Plugin>*>(instance);
    } catch (...) {
        // A destructor that throws has nowhere to report to; the instance is gone regardless.
    }
}

template <typename Plugin>
dmon_status collect(void* instance, dmon_emitter* emitter, dmon_error* error) noexcept {
    return guarded(error, [&] {
        auto* self = static_cast<Instance<Plugin>*>(instance);
        Emitter out(self->context.host.api(), emitter);
        self->plugin->collect(out);
        out.flush();
    });
}

template <typename Plugin>
dmon_status write(void* instance, const dmon_batch* batch, dmon_error* error) noexcept {
    return guarded(error, [&] {
        Batch view(batch);
        static_cast<Instance<Plugin>*>(instance)->plugin->write(view);
    });
}

template <typename Plugin>
dmon_status flush(void* instance, dmon_error* error) noexcept {
    return guarded(error, [&] { static_cast<Instance<Plugin>*>(instance)->plugin->flush(); });
}

template <typename Plugin>
constexpr dmon_plugin_descriptor make_descriptor(dmon_plugin_kind kind, const char* name,
                                                 const char* version, const char* description,
                                                 std::span<const dmon_option_decl> options,
                                                 uint32_t flags) {
    dmon_plugin_descriptor d{};
    d.struct_size = sizeof(dmon_plugin_descriptor);
    d.abi_major = DMON_ABI_MAJOR;
    d.abi_minor = DMON_ABI_MINOR;
    d.kind = static_cast<uint32_t>(kind);
    d.name = name;
    d.version = version;
    d.description = description;
    d.options = options.data();
    d.option_count = options.size();
    d.flags = flags;
    d.create = &create<Plugin>;
    d.destroy = &destroy<Plugin>;
    if constexpr (std::is_base_of_v<Collector, Plugin>)
        d.collect = &collect<Plugin>;
    if constexpr (std::is_base_of_v<Sink, Plugin>) {
        d.write = &write<Plugin>;
        d.flush = &flush<Plugin>;
    }
    return d;
}

}  // namespace detail
}  // namespace dmon::sdk

// One-line registration: exports dmon_plugin_entry for a collector class.
#define DMON_COLLECTOR_PLUGIN(Class, name, version, description, options, flags)            \
    extern "C" DMON_EXPORT const dmon_plugin_descriptor* dmon_plugin_entry(void) {          \
        static const dmon_plugin_descriptor descriptor =                                    \
            ::dmon::sdk::detail::make_descriptor<Class>(DMON_KIND_COLLECTOR, name, version, \
                                                        description, options, flags);       \
        return &descriptor;                                                                 \
    }

// One-line registration: exports dmon_plugin_entry for a sink class.
#define DMON_SINK_PLUGIN(Class, name, version, description, options)                   \
    extern "C" DMON_EXPORT const dmon_plugin_descriptor* dmon_plugin_entry(void) {     \
        static const dmon_plugin_descriptor descriptor =                               \
            ::dmon::sdk::detail::make_descriptor<Class>(DMON_KIND_SINK, name, version, \
                                                        description, options, 0);      \
        return &descriptor;                                                            \
    }
