#include <dmon/store/head.hpp>

namespace dmon::store {
namespace head_detail {
uint64_t read_varint(std::string_view data, size_t& at) {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (at >= data.size())
            throw CorruptChunk("head record ends early");
        const auto byte = static_cast<uint8_t>(data[at++]);
        value |= static_cast<uint64_t>(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0)
            return value;
    }
    throw CorruptChunk("head varint too long");
}
}  // namespace head_detail

namespace {
void put_varint(std::string& out, uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}
}  // namespace

void HeadWriter::add(int64_t series_id, int64_t ts, double value) {
    put_varint(data_, static_cast<uint64_t>(series_id));
    const int64_t delta =
        static_cast<int64_t>(static_cast<uint64_t>(ts) - static_cast<uint64_t>(last_ts_));
    put_varint(data_, (static_cast<uint64_t>(delta) << 1) ^ static_cast<uint64_t>(delta >> 63));
    last_ts_ = ts;
    const auto bits = std::bit_cast<uint64_t>(value);
    for (int i = 0; i < 8; ++i)
        data_.push_back(static_cast<char>(bits >> (8 * i)));
    ++count_;
}

}  // namespace dmon::store
