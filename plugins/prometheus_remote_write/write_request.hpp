#pragma once
// A batch of dmon samples as a remote-write request: the protobuf WriteRequest (one TimeSeries
// per series, its samples in time order, labels sorted with __name__ among them), snappy
// compressed (block format, as the protocol says). No I/O: tested by decoding what it built.
#include <dmon/plugin.h>

#include <cstdint>
#include <string>

namespace dmon::plugins::prometheus {

struct EncodedRequest {
    std::string body;    // snappy(WriteRequest)
    size_t series = 0;   // TimeSeries in it
    size_t samples = 0;  // samples in it
};

// samples: `count` samples of `sample_size` bytes each (a dmon_batch's array).
EncodedRequest encode_write_request(const dmon_sample* samples, size_t count, size_t sample_size,
                                    bool with_metadata);

// The inverse, for tests and the fuzzer: the WriteRequest inside a snappy body, as text
// ("name{a=\"b\"} value timestamp_ms" per sample, series in request order); empty on a body
// that is not one.
std::string decode_write_request_text(const std::string& body);

}  // namespace dmon::plugins::prometheus
