#include "dmon/core/plugin_instance.hpp"

#include <dmon/str.hpp>

#include "dmon/core/isolation.hpp"
#include "dmon/core/logging.hpp"
#include "dmon/core/plugin_call.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace dmon::core {

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

namespace {

using dmon::to_view;
void api_log(dmon_host* host, dmon_log_level level, dmon_str message) {
    const std::string_view name = host != nullptr ? std::string_view(host->instance_name) : "?";
    // dmon_log_level and spdlog's levels share their order: trace, debug, info, warn, error.
    const auto spd_level = static_cast<spdlog::level::level_enum>(
        std::clamp<int>(level, DMON_LOG_TRACE, DMON_LOG_ERROR));
    // A plugin may quote what it received: one line, no terminal control, bounded.
    logger().log(spd_level, "[{}] {}", name, escape_text(to_view(message), 4096));
}

int64_t api_now_ns() {
    return now_ns();
}

// A sample_size no dmon header ever had: smaller than the fields of 1.0, or so large that it is
// surely something else (a count, a byte total). Larger than today's struct is allowed: a
// plugin built against a future minor appends fields.
constexpr size_t kSmallestSample = offsetof(dmon_sample, type) + sizeof(uint32_t);
constexpr size_t kLargestSample = 1024;

void remember_example(dmon_emitter::Refusals& refused, const dmon_sample& sample) {
    if (!refused.example.empty())
        return;
    std::string value = std::isnan(sample.value)   ? "nan"
                        : std::isinf(sample.value) ? (sample.value > 0 ? "inf" : "-inf")
                                                   : std::to_string(sample.value);
    const std::string_view name =
        sample.name.data != nullptr ? to_view(sample.name) : std::string_view("(no name)");
    refused.example = escape_text(name, 200) + "=" + value;
}

// Copies samples into a batch of the emitter. Refuses malformed arguments instead of reading
// out of bounds, and values no sink can carry: a plugin bug must not take the host down, nor
// vanish without a word.
dmon_status add_samples(dmon_emitter* emitter, const dmon_sample* samples, size_t count,
                        size_t sample_size, dmon::core::SampleBatch& batch) {
    if (count == 0)
        return DMON_OK;
    auto& refused = emitter->refused;
    if (samples == nullptr) {
        refused.malformed += count;
        return DMON_INVALID;
    }
    if (sample_size < kSmallestSample || sample_size > kLargestSample) {
        refused.sample_size += count;
        refused.given_sample_size = sample_size;
        return DMON_INVALID;
    }
    const auto* base = reinterpret_cast<const unsigned char*>(samples);
    for (size_t i = 0; i < count; ++i) {
        const auto& sample = *reinterpret_cast<const dmon_sample*>(base + i * sample_size);
        if (sample.name.size == 0 || sample.name.data == nullptr ||
            (sample.label_count > 0 && sample.labels == nullptr)) {
            ++refused.malformed;
            continue;
        }
        if (!std::isfinite(sample.value)) {
            ++refused.not_finite;
            remember_example(refused, sample);
            continue;
        }
        batch.add(sample, emitter->node, emitter->collected_at_ns);
    }
    return DMON_OK;
}

dmon_status api_emit(dmon_emitter* emitter, const dmon_sample* samples, size_t count,
                     size_t sample_size) {
    if (emitter == nullptr)
        return DMON_INVALID;
    if (emitter->batches.empty() || emitter->batches.back()->token()) {
        emitter->batches.push_back(std::make_shared<SampleBatch>(emitter->source));
    }
    return add_samples(emitter, samples, count, sample_size, *emitter->batches.back());
}

dmon_status api_emit_with_completion(dmon_emitter* emitter, const dmon_sample* samples,
                                     size_t count, size_t sample_size, dmon_str origin,
                                     dmon_completion_fn done, void* user_data) {
    if (emitter == nullptr || done == nullptr || !emitter->bind_completion)
        return DMON_INVALID;
    auto batch = std::make_shared<SampleBatch>(emitter->source);
    const dmon_status status = add_samples(emitter, samples, count, sample_size, *batch);
    if (status != DMON_OK)
        return status;
    batch->set_origin(std::string(to_view(origin)));
    batch->set_token(std::make_shared<CompletionToken>(emitter->bind_completion(done, user_data)));
    emitter->batches.push_back(std::move(batch));
    return DMON_OK;
}

void api_count(dmon_host* host, dmon_str counter, uint64_t delta) {
    if (host != nullptr && host->stats && counter.size > 0)
        host->stats->add_to_counter(to_view(counter), delta);
}

const dmon_host_api kHostApi = {
    sizeof(dmon_host_api),
    DMON_ABI_MAJOR,
    &api_log,
    &api_now_ns,
    &option_string,
    &option_int,
    &option_double,
    &option_bool,
    &option_duration_ns,
    &option_list_size,
    &option_list_item,
    &api_emit,
    &api_emit_with_completion,
    &api_count,
    &option_map_size,
    &option_map_item,
};

std::string message_of(const dmon_error& error) {
    std::string text(error.message, strnlen(error.message, sizeof(error.message)));
    return text.empty() ? "no reason given" : text;
}

// A C++ exception thrown through the C ABI by a plugin that does not use the SDK's wrapper
// (which catches them): caught here so it fails the call instead of the host.
template <typename Call>
dmon_status guarded(const char* what, Call&& call, dmon_error& error) {
    try {
        return call();
    } catch (const std::exception& e) {
        std::snprintf(error.message, sizeof(error.message),
                      "%s() threw a C++ exception through the C ABI (a plugin bug: catch it "
                      "and return a status): %s",
                      what, e.what());
    } catch (...) {
        std::snprintf(error.message, sizeof(error.message),
                      "%s() threw something through the C ABI (a plugin bug: catch it and "
                      "return a status)",
                      what);
    }
    return DMON_ERROR;
}

}  // namespace

const dmon_host_api* host_api() {
    return &kHostApi;
}

std::vector<std::pair<std::string, std::string>> describe_refusals(
    const dmon_emitter::Refusals& refused) {
    std::vector<std::pair<std::string, std::string>> lines;
    if (refused.not_finite > 0) {
        lines.emplace_back("not_finite", std::to_string(refused.not_finite) +
                                             " sample(s) refused: value not finite (NaN or "
                                             "infinity), e.g. " +
                                             refused.example);
    }
    if (refused.sample_size > 0) {
        lines.emplace_back("sample_size",
                           std::to_string(refused.sample_size) +
                               " sample(s) refused: emit() was given sample_size " +
                               std::to_string(refused.given_sample_size) +
                               ", which no dmon_sample has (pass sizeof(dmon_sample), " +
                               std::to_string(sizeof(dmon_sample)) + " in this host)");
    }
    if (refused.malformed > 0) {
        lines.emplace_back("malformed",
                           std::to_string(refused.malformed) +
                               " sample(s) refused: no samples pointer, an empty name, or "
                               "label_count > 0 without labels");
    }
    return lines;
}

PluginInstance::PluginInstance(std::shared_ptr<const PluginLibrary> library,
                               const InstanceConfig& config, OptionSet options,
                               const std::string& node, bool check_only)
    : library_(std::move(library)), config_(config), options_(std::move(options)), node_(node) {
    host_.instance_name = config_.name;
    host_.stats = std::make_shared<InstanceStats>();
    description_ = config_.describe() + " (plugin " + library_->name() + ")";
    if (config_.isolate) {
        isolated_ = std::make_shared<IsolatedPlugin>(*library_, config_, options_, node_,
                                                     check_only, host_.stats);
        isolated_->start();
        return;
    }
    dmon_create_args args{};
    args.struct_size = sizeof(args);
    args.abi_major = DMON_ABI_MAJOR;
    args.api = &kHostApi;
    args.host = &host_;
    args.options = &options_;
    args.instance_name = dmon_str{config_.name.data(), config_.name.size()};
    args.node = dmon_str{node_.data(), node_.size()};
    args.flags = check_only ? DMON_CREATE_CHECK_ONLY : 0u;
    dmon_error error{};
    error.struct_size = sizeof(error);
    PluginCallScope scope(description_, "create");
    const dmon_status status = guarded(
        "create", [&] { return library_->descriptor().create(&args, &state_, &error); }, error);
    if (status != DMON_OK) {
        throw PluginLoadError(config_.location.to_string() + ": " + config_.describe() +
                              ": create failed: " + message_of(error));
    }
}

int PluginInstance::worker_pid() const {
    return isolated_ ? isolated_->pid() : -1;
}

PluginInstance::~PluginInstance() {
    isolated_.reset();  // stops the worker, which destroys the instance in there
    if (state_ == nullptr)
        return;
    PluginCallScope scope(description_, "destroy");
    try {
        library_->descriptor().destroy(state_);
    } catch (...) {
        logger().error("[{}] destroy() threw a C++ exception through the C ABI (a plugin bug)",
                       config_.name);
    }
}

dmon_status PluginInstance::collect(dmon_emitter& emitter, std::string& error_text) {
    if (isolated_)
        return isolated_->collect(emitter, error_text);
    dmon_error error{};
    error.struct_size = sizeof(error);
    PluginCallScope scope(description_, "collect");
    const dmon_status status = guarded(
        "collect", [&] { return library_->descriptor().collect(state_, &emitter, &error); }, error);
    if (status != DMON_OK)
        error_text = message_of(error);
    return status;
}

dmon_status PluginInstance::write(const dmon_batch& batch, std::string& error_text) {
    if (isolated_)
        return isolated_->write(batch, error_text);
    dmon_error error{};
    error.struct_size = sizeof(error);
    PluginCallScope scope(description_, "write");
    const dmon_status status = guarded(
        "write", [&] { return library_->descriptor().write(state_, &batch, &error); }, error);
    if (status != DMON_OK)
        error_text = message_of(error);
    return status;
}

dmon_status PluginInstance::flush(std::string& error_text) {
    if (library_->descriptor().flush == nullptr)
        return DMON_OK;
    if (isolated_)
        return isolated_->flush(error_text);
    dmon_error error{};
    error.struct_size = sizeof(error);
    PluginCallScope scope(description_, "flush");
    const dmon_status status = guarded(
        "flush", [&] { return library_->descriptor().flush(state_, &error); }, error);
    if (status != DMON_OK)
        error_text = message_of(error);
    return status;
}

}  // namespace dmon::core
