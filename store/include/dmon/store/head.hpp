#pragma once
// The head: samples not yet sealed into chunks, one row per written batch, in arrival order.
// A row's blob is a run of records: series id (varint), timestamp minus the previous record's
// (zigzag varint: the samples of one round share a timestamp, so mostly 1 byte) and the value
// (8 bytes, little-endian). Writing a batch is one append; sealing reads the rows in order.
#include <dmon/store/chunk.hpp>

#include <bit>
#include <cstdint>
#include <string>
#include <string_view>

namespace dmon::store {

class HeadWriter {
  public:
    void add(int64_t series_id, int64_t ts, double value);
    const std::string& data() const { return data_; }
    int64_t count() const { return count_; }
    void clear() {
        data_.clear();
        count_ = 0;
        last_ts_ = 0;
    }

  private:
    std::string data_;
    int64_t count_ = 0;
    int64_t last_ts_ = 0;
};

// Calls visit(series_id, Point) for each record. Throws CorruptChunk on a damaged blob.
template <typename Visit>
void decode_head(std::string_view data, Visit&& visit);

// ---- implementation ----
namespace head_detail {
uint64_t read_varint(std::string_view data, size_t& at);
}

template <typename Visit>
void decode_head(std::string_view data, Visit&& visit) {
    size_t at = 0;
    int64_t ts = 0;
    while (at < data.size()) {
        const auto series = static_cast<int64_t>(head_detail::read_varint(data, at));
        const uint64_t z = head_detail::read_varint(data, at);
        ts = static_cast<int64_t>(
            static_cast<uint64_t>(ts) +
            static_cast<uint64_t>(static_cast<int64_t>(z >> 1) ^ -static_cast<int64_t>(z & 1)));
        if (data.size() - at < 8)
            throw CorruptChunk("head record ends early");
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i)
            bits |= static_cast<uint64_t>(static_cast<uint8_t>(data[at + i])) << (8 * i);
        at += 8;
        visit(series, Point{ts, std::bit_cast<double>(bits)});
    }
}

}  // namespace dmon::store
