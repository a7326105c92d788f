#include <dmon/store/chunk.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <optional>

namespace dmon::store {
namespace {

// Layout of chunks.data (little-endian):
//   u8 version (1) | u8 codec | u8 decimals | u8 shift | u32 count | bit stream
// The bit stream (most significant bit first): the first timestamp and value as 64 raw bits
// each, then per point a timestamp delta-of-delta and a value in the chunk's codec.
constexpr uint8_t kVersion = 1;
constexpr size_t kHeaderBytes = 8;
constexpr int kMaxDecimals = 9;
constexpr double kPow10[kMaxDecimals + 1] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
constexpr double kExactIntegers = 9007199254740992.0;  // 2^53: every integer below is a double

uint64_t bits_of(double value) {
    return std::bit_cast<uint64_t>(value);
}

uint64_t zigzag(int64_t v) {
    return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t unzigzag(uint64_t z) {
    return static_cast<int64_t>(z >> 1) ^ -static_cast<int64_t>(z & 1);
}
int64_t wrapping_sub(int64_t a, int64_t b) {
    return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
int64_t wrapping_add(int64_t a, int64_t b) {
    return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

// value = integer / 10^decimals, exactly (the same bits back), or nothing.
std::optional<int64_t> to_scaled(double value, int decimals) {
    if (!std::isfinite(value))
        return std::nullopt;
    const double scaled = value * kPow10[decimals];
    if (!(std::fabs(scaled) < kExactIntegers))
        return std::nullopt;
    const auto integer = static_cast<int64_t>(std::nearbyint(scaled));
    const double back = decimals == 0 ? static_cast<double>(integer)
                                      : static_cast<double>(integer) / kPow10[decimals];
    if (bits_of(back) != bits_of(value))
        return std::nullopt;  // also refuses -0: it would come back as +0
    return integer;
}
double from_scaled(int64_t integer, int decimals) {
    return decimals == 0 ? static_cast<double>(integer)
                         : static_cast<double>(integer) / kPow10[decimals];
}

struct Params {
    ValueCodec codec = ValueCodec::xor_float;
    uint8_t decimals = 0;
    uint8_t shift = 0;
};

// Where the encoder stopped; serialised into Chunk::state.
struct State {
    uint64_t bit_length = 0;  // of the bit stream
    int64_t last_ts = 0;
    int64_t last_ts_delta = 0;
    uint64_t last_value = 0;  // the double's bits, or the scaled integer
    int64_t last_value_delta = 0;
    uint8_t leading = 0, trailing = 0;  // the XOR window of the last value written with one
    uint8_t has_window = 0;
};
constexpr size_t kStateBytes = 5 * 8 + 3;

void put64(std::string& out, uint64_t v) {
    for (int i = 0; i < 8; ++i)
        out.push_back(static_cast<char>(v >> (8 * i)));
}
uint64_t get64(std::string_view in, size_t at) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v |= static_cast<uint64_t>(static_cast<uint8_t>(in[at + i])) << (8 * i);
    return v;
}

std::string save(const State& s) {
    std::string out;
    put64(out, s.bit_length);
    put64(out, static_cast<uint64_t>(s.last_ts));
    put64(out, static_cast<uint64_t>(s.last_ts_delta));
    put64(out, s.last_value);
    put64(out, static_cast<uint64_t>(s.last_value_delta));
    out.push_back(static_cast<char>(s.leading));
    out.push_back(static_cast<char>(s.trailing));
    out.push_back(static_cast<char>(s.has_window));
    return out;
}
State load(std::string_view in) {
    if (in.size() != kStateBytes)
        throw CorruptChunk("chunk encoder state of " + std::to_string(in.size()) + " bytes");
    State s;
    s.bit_length = get64(in, 0);
    s.last_ts = static_cast<int64_t>(get64(in, 8));
    s.last_ts_delta = static_cast<int64_t>(get64(in, 16));
    s.last_value = get64(in, 24);
    s.last_value_delta = static_cast<int64_t>(get64(in, 32));
    s.leading = static_cast<uint8_t>(in[40]);
    s.trailing = static_cast<uint8_t>(in[41]);
    s.has_window = static_cast<uint8_t>(in[42]);
    return s;
}

class BitWriter {
  public:
    BitWriter(std::string& out, uint64_t bit_length) : out_(out), bits_(bit_length) {}
    // The low `n` bits of `value` (1..64), most significant first.
    void write(uint64_t value, int n) {
        while (n > 0) {
            const int used = static_cast<int>(bits_ % 8);
            if (used == 0)
                out_.push_back('\0');
            const int room = 8 - used;
            const int take = std::min(room, n);
            const auto piece = static_cast<uint8_t>((value >> (n - take)) & ((1u << take) - 1));
            out_.back() = static_cast<char>(static_cast<uint8_t>(out_.back()) |
                                            static_cast<uint8_t>(piece << (room - take)));
            bits_ += static_cast<uint64_t>(take);
            n -= take;
        }
    }
    uint64_t bit_length() const { return bits_; }

  private:
    std::string& out_;  // the stream's last byte is the one partly written
    uint64_t bits_;
};

class BitReader {
  public:
    explicit BitReader(std::string_view bytes) : bytes_(bytes) {}
    uint64_t read(int n) {
        if (position_ + static_cast<uint64_t>(n) > bytes_.size() * 8)
            throw CorruptChunk("chunk bit stream ends early");
        uint64_t value = 0;
        while (n > 0) {
            const auto byte = static_cast<uint8_t>(bytes_[position_ / 8]);
            const int used = static_cast<int>(position_ % 8);
            const int take = std::min(8 - used, n);
            const uint64_t piece = (byte >> (8 - used - take)) & ((1u << take) - 1);
            value = (take == 64 ? 0 : value << take) | piece;
            position_ += static_cast<uint64_t>(take);
            n -= take;
        }
        return value;
    }

  private:
    std::string_view bytes_;
    uint64_t position_ = 0;
};

// A signed number in a variable width: 0 costs 1 bit, then '1', a 3-bit width class and the
// zigzagged number in that many bits. Widths fit the deltas seen: a few units (counters), ~20
// bits (timestamp jitter of a fraction of a millisecond in ns), and anything.
constexpr int kWidths[8] = {4, 8, 12, 16, 20, 24, 32, 64};

void put_signed(BitWriter& w, int64_t v) {
    const uint64_t z = zigzag(v);
    if (z == 0) {
        w.write(0, 1);
        return;
    }
    int width = 0;
    while (width < 7 && (z >> kWidths[width]) != 0)
        ++width;
    w.write(1, 1);
    w.write(static_cast<uint64_t>(width), 3);
    w.write(z, kWidths[width]);
}
int64_t get_signed(BitReader& r) {
    if (r.read(1) == 0)
        return 0;
    const int width = kWidths[r.read(3)];
    return unzigzag(r.read(width));
}

// The Gorilla XOR scheme: 0 for the same value; '10' and the meaningful bits when they fit the
// previous window of leading and trailing zeros; else '11', 5 bits of leading zeros, 6 bits of
// length and the meaningful bits.
void put_xor(BitWriter& w, State& s, uint64_t bits) {
    const uint64_t x = bits ^ s.last_value;
    s.last_value = bits;
    if (x == 0) {
        w.write(0, 1);
        return;
    }
    const int leading = std::min(std::countl_zero(x), 31);
    const int trailing = std::countr_zero(x);
    if (s.has_window && leading >= s.leading && trailing >= s.trailing) {
        w.write(0b10, 2);
        w.write(x >> s.trailing, 64 - s.leading - s.trailing);
        return;
    }
    const int length = 64 - leading - trailing;
    w.write(0b11, 2);
    w.write(static_cast<uint64_t>(leading), 5);
    w.write(static_cast<uint64_t>(length - 1), 6);
    w.write(x >> trailing, length);
    s.leading = static_cast<uint8_t>(leading);
    s.trailing = static_cast<uint8_t>(trailing);
    s.has_window = 1;
}
uint64_t get_xor(BitReader& r, State& s) {
    if (r.read(1) == 0)
        return s.last_value;
    if (r.read(1) == 1) {
        s.leading = static_cast<uint8_t>(r.read(5));
        const int length = static_cast<int>(r.read(6)) + 1;
        if (s.leading + length > 64)
            throw CorruptChunk("chunk XOR window out of range");
        s.trailing = static_cast<uint8_t>(64 - s.leading - length);
        s.has_window = 1;
    } else if (!s.has_window) {
        throw CorruptChunk("chunk XOR window used before it was set");
    }
    const int length = 64 - s.leading - s.trailing;
    s.last_value ^= r.read(length) << s.trailing;
    return s.last_value;
}

Params read_params(std::string_view data) {
    if (data.size() < kHeaderBytes || static_cast<uint8_t>(data[0]) != kVersion)
        throw CorruptChunk("not a version 1 chunk");
    Params p;
    const auto codec = static_cast<uint8_t>(data[1]);
    if (codec > 2)
        throw CorruptChunk("unknown chunk codec " + std::to_string(codec));
    p.codec = static_cast<ValueCodec>(codec);
    p.decimals = static_cast<uint8_t>(data[2]);
    p.shift = static_cast<uint8_t>(data[3]);
    if (p.decimals > kMaxDecimals || p.shift > 62)
        throw CorruptChunk("chunk header out of range");
    return p;
}
uint32_t read_count(std::string_view data) {
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i)
        n |= static_cast<uint32_t>(static_cast<uint8_t>(data[4 + i])) << (8 * i);
    return n;
}
void write_count(std::string& data, uint32_t n) {
    for (int i = 0; i < 4; ++i)
        data[4 + i] = static_cast<char>(n >> (8 * i));
}

// Appends one point; false if its value does not fit the codec (nothing usable written then:
// the caller works on a copy).
bool put_point(std::string& data, State& s, const Params& p, uint32_t index, const Point& point) {
    std::optional<int64_t> integer;
    if (p.codec != ValueCodec::xor_float) {
        integer = to_scaled(point.value, p.decimals);
        if (!integer)
            return false;
    }
    BitWriter w(data, s.bit_length);
    if (index == 0) {
        w.write(static_cast<uint64_t>(point.ts), 64);
        s.last_ts = point.ts;
        s.last_ts_delta = 0;
        s.last_value = integer ? static_cast<uint64_t>(*integer) : bits_of(point.value);
        s.last_value_delta = 0;
        w.write(s.last_value, 64);
        s.bit_length = w.bit_length();
        return true;
    }
    const int64_t delta = wrapping_sub(point.ts, s.last_ts);
    const int64_t ts_dod = wrapping_sub(delta, s.last_ts_delta);
    int64_t quantity = 0;  // int codecs: the number written
    int64_t value_delta = 0;
    if (integer) {
        value_delta = wrapping_sub(*integer, static_cast<int64_t>(s.last_value));
        quantity = p.codec == ValueCodec::int_delta ? value_delta
                                                    : wrapping_sub(value_delta, s.last_value_delta);
        if ((static_cast<uint64_t>(quantity) & ((uint64_t{1} << p.shift) - 1)) != 0)
            return false;
    }
    put_signed(w, ts_dod);
    s.last_ts = point.ts;
    s.last_ts_delta = delta;
    if (integer) {
        put_signed(w, quantity >> p.shift);
        s.last_value = static_cast<uint64_t>(*integer);
        s.last_value_delta = value_delta;
    } else {
        put_xor(w, s, bits_of(point.value));
    }
    s.bit_length = w.bit_length();
    return true;
}

Chunk encode_with(std::span<const Point> points, const Params& p) {
    Chunk chunk;
    chunk.data.reserve(kHeaderBytes + points.size() * 4 + 16);
    chunk.data.push_back(static_cast<char>(kVersion));
    chunk.data.push_back(static_cast<char>(p.codec));
    chunk.data.push_back(static_cast<char>(p.decimals));
    chunk.data.push_back(static_cast<char>(p.shift));
    chunk.data.append(4, '\0');
    State s;
    for (size_t i = 0; i < points.size(); ++i) {
        if (!put_point(chunk.data, s, p, static_cast<uint32_t>(i), points[i]))
            throw std::logic_error("chunk codec chosen for values it cannot hold");
    }
    chunk.count = static_cast<uint32_t>(points.size());
    write_count(chunk.data, chunk.count);
    chunk.state = save(s);
    if (!points.empty()) {
        const auto [low, high] =
            std::minmax_element(points.begin(), points.end(),
                                [](const Point& a, const Point& b) { return a.ts < b.ts; });
        chunk.start_ts = low->ts;
        chunk.end_ts = high->ts;
    }
    return chunk;
}

// The fewest decimals that make every value an exact integer, or nothing.
std::optional<uint8_t> common_decimals(std::span<const Point> points) {
    int decimals = 0;
    for (const auto& point : points) {
        while (decimals <= kMaxDecimals && !to_scaled(point.value, decimals))
            ++decimals;
        if (decimals > kMaxDecimals)
            return std::nullopt;
    }
    for (const auto& point : points) {  // a value exact at fewer decimals may overflow at more
        if (!to_scaled(point.value, decimals))
            return std::nullopt;
    }
    return static_cast<uint8_t>(decimals);
}

// The largest power of two dividing every number the codec would write.
uint8_t common_shift(std::span<const Point> points, uint8_t decimals, ValueCodec codec) {
    int shift = 62;
    int64_t last = 0, last_delta = 0;
    for (size_t i = 0; i < points.size(); ++i) {
        const int64_t integer = *to_scaled(points[i].value, decimals);
        if (i > 0) {
            const int64_t delta = wrapping_sub(integer, last);
            const int64_t quantity =
                codec == ValueCodec::int_delta ? delta : wrapping_sub(delta, last_delta);
            if (quantity != 0)
                shift = std::min(shift, std::countr_zero(static_cast<uint64_t>(quantity)));
            last_delta = delta;
        }
        last = integer;
    }
    return static_cast<uint8_t>(shift);
}

}  // namespace

Chunk encode_chunk(std::span<const Point> points) {
    Chunk best = encode_with(points, Params{});
    if (const auto decimals = common_decimals(points)) {
        for (const auto codec : {ValueCodec::int_delta, ValueCodec::int_delta_of_delta}) {
            Chunk candidate = encode_with(
                points, Params{codec, *decimals, common_shift(points, *decimals, codec)});
            if (candidate.data.size() < best.data.size())
                best = std::move(candidate);
        }
    }
    return best;
}

bool append_to_chunk(Chunk& chunk, std::span<const Point> points) {
    if (points.empty())
        return true;
    const Params p = read_params(chunk.data);
    State s = load(chunk.state);
    std::string data = chunk.data;
    uint32_t count = chunk.count;
    int64_t start = chunk.start_ts, end = chunk.end_ts;
    for (const auto& point : points) {
        if (!put_point(data, s, p, count, point))
            return false;
        start = count == 0 ? point.ts : std::min(start, point.ts);
        end = count == 0 ? point.ts : std::max(end, point.ts);
        ++count;
    }
    write_count(data, count);
    chunk.data = std::move(data);
    chunk.state = save(s);
    chunk.count = count;
    chunk.start_ts = start;
    chunk.end_ts = end;
    return true;
}

ValueCodec chunk_codec(std::string_view data) {
    return read_params(data).codec;
}

void decode_chunk(std::string_view data, std::vector<Point>& out) {
    const Params p = read_params(data);
    const uint32_t count = read_count(data);
    const std::string_view stream = data.substr(kHeaderBytes);
    // Each point takes at least 2 bits: a count beyond that is a damaged header, not a reason
    // to reserve gigabytes.
    if (count > 0 && (stream.size() * 8 < 128 + uint64_t{2} * (count - 1)))
        throw CorruptChunk("chunk count " + std::to_string(count) + " beyond its " +
                           std::to_string(stream.size()) + " bytes");
    out.reserve(out.size() + count);
    BitReader r(stream);
    State s;
    for (uint32_t i = 0; i < count; ++i) {
        Point point;
        if (i == 0) {
            s.last_ts = static_cast<int64_t>(r.read(64));
            s.last_value = r.read(64);
        } else {
            s.last_ts_delta = wrapping_add(s.last_ts_delta, get_signed(r));
            s.last_ts = wrapping_add(s.last_ts, s.last_ts_delta);
            if (p.codec == ValueCodec::xor_float) {
                get_xor(r, s);
            } else {
                const int64_t quantity =
                    static_cast<int64_t>(static_cast<uint64_t>(get_signed(r)) << p.shift);
                if (p.codec == ValueCodec::int_delta_of_delta)
                    s.last_value_delta = wrapping_add(s.last_value_delta, quantity);
                else
                    s.last_value_delta = quantity;
                s.last_value = static_cast<uint64_t>(
                    wrapping_add(static_cast<int64_t>(s.last_value), s.last_value_delta));
            }
        }
        point.ts = s.last_ts;
        point.value = p.codec == ValueCodec::xor_float
                          ? std::bit_cast<double>(s.last_value)
                          : from_scaled(static_cast<int64_t>(s.last_value), p.decimals);
        out.push_back(point);
    }
}

}  // namespace dmon::store
