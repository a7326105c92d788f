#pragma once

#include "dmon/core/sample_batch.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dmon::core {

// What a sink runner hands to its sink in one write(): routed batches frozen together under an
// id. Once sealed it never changes, so every retry (and, from the spool, every restart) writes
// the same samples under the same id, and a sink that stores once can recognise it.
struct SealedBatch {
    std::string id;                  // "<node>:<sink>:<start ns>:<sequence>", unique and stable
    int64_t sealed_at_ns = 0;        // wall clock, for dmon.sink.oldest_unsent_age
    std::vector<SharedBatch> parts;  // each part keeps its own origin (e.g. an AMQP message_id)
    size_t samples = 0;

    void add(SharedBatch part) {
        samples += part->size();
        parts.push_back(std::move(part));
    }
};

// The spool's record payload: a sealed batch as bytes, and back. The decoder treats its input
// as untrusted (a checksum can pass on a file someone edited): every length is bounds-checked
// and a bad payload yields nullopt, never a crash.
std::string encode_sealed_batch(const SealedBatch& batch);
std::optional<SealedBatch> decode_sealed_batch(std::string_view payload);

}  // namespace dmon::core
