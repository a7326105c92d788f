// Chunk codecs: every point comes back with the same timestamp and the same bits, whatever the
// values and timestamps; appending equals encoding at once; sizes of typical series.
#include <dmon/store/chunk.hpp>
#include <dmon/store/head.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace dmon::store {
namespace {

void expect_round_trip(const std::vector<Point>& points, const std::string& what) {
    const Chunk chunk = encode_chunk(points);
    EXPECT_EQ(chunk.count, points.size()) << what;
    const auto back = decode_chunk(chunk.data);
    ASSERT_EQ(back.size(), points.size()) << what;
    for (size_t i = 0; i < points.size(); ++i) {
        ASSERT_TRUE(same_point(back[i], points[i]))
            << what << ": point " << i << " was (" << points[i].ts << ", " << points[i].value
            << "), came back (" << back[i].ts << ", " << back[i].value << ")";
    }
}

std::vector<Point> regular(size_t n, int64_t step, auto value) {
    std::vector<Point> out;
    for (size_t i = 0; i < n; ++i)
        out.push_back({1'700'000'000'000'000'000 + static_cast<int64_t>(i) * step, value(i)});
    return out;
}

TEST(ChunkTest, SignedZerosHugeTinyAndNonFiniteValuesComeBackBitForBit) {
    const double inf = std::numeric_limits<double>::infinity();
    const std::vector<double> values = {+0.0,
                                        -0.0,
                                        0.0,
                                        -0.0,
                                        std::numeric_limits<double>::max(),
                                        std::numeric_limits<double>::lowest(),
                                        std::numeric_limits<double>::min(),
                                        std::numeric_limits<double>::denorm_min(),
                                        -std::numeric_limits<double>::denorm_min(),
                                        1e308,
                                        1e-308,
                                        inf,
                                        -inf,
                                        std::nan(""),
                                        9007199254740993.0,  // above 2^53
                                        -9007199254740992.0,
                                        0.1,
                                        1.0 / 3.0};
    std::vector<Point> points;
    for (size_t i = 0; i < values.size(); ++i)
        points.push_back({static_cast<int64_t>(i) * 1000, values[i]});
    expect_round_trip(points, "special values");
    // Only the zeros, which look like integers but -0 is not +0.
    expect_round_trip({{1, 0.0}, {2, -0.0}, {3, 0.0}}, "zeros");
    expect_round_trip({{1, -0.0}}, "one negative zero");
}

TEST(ChunkTest, IrregularAndBackwardsTimestampsComeBack) {
    expect_round_trip({{5, 1},
                       {3, 2},
                       {3, 3},
                       {-7, 4},
                       {std::numeric_limits<int64_t>::max(), 5},
                       {std::numeric_limits<int64_t>::min(), 6},
                       {0, 7}},
                      "timestamps in any order, extremes included");
    std::mt19937_64 random(7);
    std::vector<Point> jitter;
    int64_t ts = 1'700'000'000'000'000'000;
    for (int i = 0; i < 1000; ++i) {
        ts += 1'000'000'000 + static_cast<int64_t>(random() % 600'000) - 300'000;
        jitter.push_back({ts, static_cast<double>(i)});
    }
    expect_round_trip(jitter, "1 s with +-300 us of jitter");
}

TEST(ChunkTest, CountersThatResetComeBackAndUseIntegerCodecs) {
    // jiffies / 100, as proc_cpu reports CPU seconds; a reset halfway.
    const auto points = regular(500, 1'000'000'000, [](size_t i) {
        const auto jiffies = static_cast<int64_t>(i < 250 ? 123456 + i * 37 : (i - 250) * 41);
        return static_cast<double>(jiffies) / 100.0;
    });
    expect_round_trip(points, "counter with a reset");
    EXPECT_NE(chunk_codec(encode_chunk(points).data), ValueCodec::xor_float);
    // Bytes in pages: multiples of 4096.
    const auto memory = regular(500, 10'000'000'000, [](size_t i) {
        return 8e9 + static_cast<double>((i * 7919) % 1000) * 4096;
    });
    expect_round_trip(memory, "memory in pages");
    EXPECT_NE(chunk_codec(encode_chunk(memory).data), ValueCodec::xor_float);
}

// Regular 1 s samples of slow-moving values take a few bits, not bytes.
TEST(ChunkTest, RegularSeriesTakeFewBytes) {
    const auto constant = regular(512, 1'000'000'000, [](size_t) { return 42.0; });
    // Header, first point, the first interval (36 bits), then 1 bit for the timestamp and 1 for
    // the value: 2 bits a point.
    EXPECT_LE(encode_chunk(constant).data.size(), 8u + 16u + 2 * 512u / 8u + 6u);
    const auto counter = regular(512, 1'000'000'000, [](size_t i) { return 1e6 + i * 1500.0; });
    // Delta-of-delta of a steady rate is 0: 2 bits a point after the first interval and step.
    EXPECT_LE(encode_chunk(counter).data.size(), 8u + 16u + 2 * 512u / 8u + 12u);
}

TEST(ChunkTest, AppendingEqualsEncodingAtOnceAndRefusesValuesItsCodecCannotHold) {
    auto points = regular(300, 1'000'000'000, [](size_t i) { return static_cast<double>(i * 3); });
    Chunk chunk = encode_chunk(std::span<const Point>(points).first(100));
    ASSERT_TRUE(append_to_chunk(chunk, std::span<const Point>(points).subspan(100, 150)));
    ASSERT_TRUE(append_to_chunk(chunk, std::span<const Point>(points).subspan(250)));
    EXPECT_EQ(chunk.count, 300u);
    EXPECT_EQ(chunk.start_ts, points.front().ts);
    EXPECT_EQ(chunk.end_ts, points.back().ts);
    const auto back = decode_chunk(chunk.data);
    ASSERT_EQ(back.size(), points.size());
    for (size_t i = 0; i < points.size(); ++i)
        ASSERT_TRUE(same_point(back[i], points[i])) << i;
    // An integer chunk cannot take a fraction: refused, the chunk unchanged.
    const std::string before = chunk.data;
    const Point fraction{points.back().ts + 1'000'000'000, 0.5};
    EXPECT_FALSE(append_to_chunk(chunk, std::span<const Point>(&fraction, 1)));
    EXPECT_EQ(chunk.data, before);
    EXPECT_EQ(chunk.count, 300u);
    // A float chunk takes anything.
    Chunk floats = encode_chunk(std::vector<Point>{{1, 0.25}, {2, 1.0 / 3.0}});
    ASSERT_EQ(chunk_codec(floats.data), ValueCodec::xor_float);
    const std::vector<Point> more = {{3, 7.0}, {4, -0.0}, {5, 1e300}};
    EXPECT_TRUE(append_to_chunk(floats, more));
    EXPECT_EQ(decode_chunk(floats.data).size(), 5u);
}

// Property: random series of every shape round-trip, at once and appended piece by piece.
TEST(ChunkTest, RandomSeriesRoundTrip) {
    std::mt19937_64 random(20261126);
    for (int round = 0; round < 400; ++round) {
        const size_t n = 1 + random() % 700;
        const int shape = static_cast<int>(random() % 6);
        std::vector<Point> points;
        uint64_t ts = random();  // wraps around: any int64 timestamps, in any order
        double value = static_cast<double>(random() % 1000);
        for (size_t i = 0; i < n; ++i) {
            ts += (random() % 3 == 0 ? random() : random() % 2'000'000'000) -
                  (random() % 50 == 0 ? 5'000'000'000u : 0u);
            switch (shape) {
                case 0:  // random doubles, any bits
                    value = std::bit_cast<double>(random());
                    break;
                case 1:  // integers, mostly increasing
                    value += static_cast<double>(random() % 5000);
                    break;
                case 2:  // decimals
                    value = static_cast<double>(static_cast<int64_t>(random() % 100000)) / 100.0;
                    break;
                case 3:  // a gauge drifting in float steps
                    value += (static_cast<double>(random() % 1000) - 500) / 7.0;
                    break;
                case 4:  // repeated values with an occasional jump
                    if (random() % 20 == 0)
                        value = static_cast<double>(random() % 100);
                    break;
                default:  // integers that turn fractional halfway
                    value = i < n / 2 ? static_cast<double>(i) : static_cast<double>(i) + 0.5;
            }
            points.push_back({static_cast<int64_t>(ts), value});
        }
        expect_round_trip(points, "round " + std::to_string(round));
        // The same points appended in random pieces (re-encoded when a piece does not fit).
        const size_t first = 1 + random() % n;
        Chunk chunk = encode_chunk(std::span<const Point>(points).first(first));
        for (size_t at = first; at < n;) {
            const size_t take = std::min(n - at, 1 + static_cast<size_t>(random() % 50));
            const auto piece = std::span<const Point>(points).subspan(at, take);
            if (!append_to_chunk(chunk, piece))
                chunk = encode_chunk(std::span<const Point>(points).first(at + take));
            at += take;
        }
        const auto back = decode_chunk(chunk.data);
        ASSERT_EQ(back.size(), n) << round;
        for (size_t i = 0; i < n; ++i)
            ASSERT_TRUE(same_point(back[i], points[i])) << "round " << round << " point " << i;
    }
}

TEST(ChunkTest, DamagedChunksAreRefusedNotTrusted) {
    const auto points = regular(100, 1'000'000'000, [](size_t i) { return i * 0.1; });
    const std::string data = encode_chunk(points).data;
    EXPECT_THROW(decode_chunk(data.substr(0, 5)), CorruptChunk);
    EXPECT_THROW(decode_chunk(data.substr(0, data.size() / 2)), CorruptChunk);
    std::string huge_count = data;
    huge_count[7] = '\x7f';  // a count of ~2 billion points in a few hundred bytes
    EXPECT_THROW(decode_chunk(huge_count), CorruptChunk);
    std::string codec = data;
    codec[1] = 9;
    EXPECT_THROW(decode_chunk(codec), CorruptChunk);
    // Random bytes never crash the decoder: they decode to something or are refused.
    std::mt19937_64 random(3);
    for (int i = 0; i < 2000; ++i) {
        std::string noise = data;
        for (int k = 0; k < 4; ++k)
            noise[8 + random() % (noise.size() - 8)] = static_cast<char>(random());
        try {
            decode_chunk(noise);
        } catch (const CorruptChunk&) {
        }
    }
}

TEST(HeadTest, RecordsComeBackInOrder) {
    HeadWriter head;
    head.add(1, 1000, 0.5);
    head.add(300, 1000, -0.0);
    head.add(1, 500, 1e300);  // a timestamp going back
    head.add(70000, std::numeric_limits<int64_t>::max(), 3);
    std::vector<std::pair<int64_t, Point>> back;
    decode_head(head.data(), [&](int64_t id, const Point& p) { back.push_back({id, p}); });
    ASSERT_EQ(back.size(), 4u);
    EXPECT_EQ(back[1].first, 300);
    EXPECT_TRUE(std::signbit(back[1].second.value));
    EXPECT_EQ(back[2].second.ts, 500);
    EXPECT_EQ(back[3].first, 70000);
    EXPECT_EQ(back[3].second.ts, std::numeric_limits<int64_t>::max());
    EXPECT_THROW(decode_head(head.data().substr(0, head.data().size() - 3), [](int64_t, Point) {}),
                 CorruptChunk);
}

}  // namespace
}  // namespace dmon::store
