// Chunk and head blobs come from a file another process (or a damaged disk) wrote: decoding any
// bytes must end in points or CorruptChunk, never in a crash or a huge allocation. And any
// points, read from the same bytes, must come back bit for bit from encode (and append).
#include <dmon/store/chunk.hpp>
#include <dmon/store/head.hpp>

#include <cstdlib>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace dmon::store;
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    try {
        decode_chunk(bytes);
    } catch (const CorruptChunk&) {
    }
    try {
        decode_head(bytes, [](int64_t, const Point&) {});
    } catch (const CorruptChunk&) {
    }
    std::vector<Point> points(size / 16);
    for (size_t i = 0; i < points.size(); ++i) {
        std::memcpy(&points[i].ts, data + 16 * i, 8);
        std::memcpy(&points[i].value, data + 16 * i + 8, 8);
    }
    if (points.empty())
        return 0;
    auto same = [&](const std::string& blob) {
        const auto back = decode_chunk(blob);
        if (back.size() != points.size())
            std::abort();
        for (size_t i = 0; i < points.size(); ++i) {
            if (!same_point(back[i], points[i]))
                std::abort();
        }
    };
    same(encode_chunk(points).data);
    const size_t first = 1 + data[0] % points.size();
    Chunk chunk = encode_chunk(std::span<const Point>(points).first(first));
    if (!append_to_chunk(chunk, std::span<const Point>(points).subspan(first)))
        chunk = encode_chunk(points);
    same(chunk.data);
    return 0;
}
