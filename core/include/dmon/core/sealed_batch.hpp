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

// The same encoding made from the C view a sink's write() is given (an isolated sink's worker
// decodes it with decode_sealed_batch): one part per run of samples with an origin and per gap
// between them; sources and sealed_at_ns are not in a dmon_batch and come back empty and 0.
std::string encode_c_batch(const dmon_batch& batch);

// The C view (dmon_batch) of a sealed batch, as write() takes it. Holds the arrays the view
// points into: valid while this object and `batch` live and until the next view().
class CBatchView {
  public:
    const dmon_batch& view(const SealedBatch& batch);

  private:
    std::vector<dmon_sample> samples_;
    std::vector<dmon_label> labels_;
    std::vector<dmon_origin> origins_;
    dmon_batch batch_{};
};

}  // namespace dmon::core
