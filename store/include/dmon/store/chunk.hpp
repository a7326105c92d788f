#pragma once
// The compressed chunk: a run of one series' points in a few bits each (docs/storage.md).
//
// Timestamps are stored as delta-of-delta (a regular interval costs 1 bit a point); values
// either as the XOR of consecutive doubles (Gorilla) or, when every value of the chunk is an
// integer after scaling by a power of ten (counters, bytes, jiffies/100), as integer deltas or
// delta-of-deltas. The encoder tries the codecs that fit and keeps the smallest. Every codec is
// exact: a decoded point has the same timestamp and the same bits as the one encoded.
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace dmon::store {

struct Point {
    int64_t ts = 0;  // ns since the Unix epoch
    double value = 0;
};

// Same timestamp and same bits (+0 is not -0; a NaN equals itself).
inline bool same_point(const Point& a, const Point& b) {
    return a.ts == b.ts && std::memcmp(&a.value, &b.value, sizeof(double)) == 0;
}

// A chunk blob that does not decode: the file was damaged or written by something else.
class CorruptChunk : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

enum class ValueCodec : uint8_t { xor_float = 0, int_delta = 1, int_delta_of_delta = 2 };

// An encoded chunk that can still grow.
struct Chunk {
    std::string data;   // header and bit stream: what chunks.data holds
    std::string state;  // where the encoder stopped, so points can be appended without decoding
    uint32_t count = 0;
    int64_t start_ts = 0;  // smallest and largest timestamp
    int64_t end_ts = 0;
};

// Encodes `points` (in the order given; any timestamps) with the smallest codec that fits.
Chunk encode_chunk(std::span<const Point> points);

// Appends points to an encoded chunk with the codec it has. False (and the chunk unchanged)
// when a value does not fit that codec: the caller encodes all the points again.
bool append_to_chunk(Chunk& chunk, std::span<const Point> points);

// Decodes a chunk's points and appends them to `out`. Throws CorruptChunk.
void decode_chunk(std::string_view data, std::vector<Point>& out);
inline std::vector<Point> decode_chunk(std::string_view data) {
    std::vector<Point> out;
    decode_chunk(data, out);
    return out;
}

// The codec a chunk was written with (for tests and `dmonctl stats`). Throws CorruptChunk.
ValueCodec chunk_codec(std::string_view data);

}  // namespace dmon::store
