#pragma once
// Sorting and merging a series' points: one policy for the writer (sealing) and the reader.
#include <dmon/store/chunk.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace dmon::store::points {

// Sorted by timestamp, one point per timestamp: the first received wins (as a row store's
// INSERT OR IGNORE did). Returns how many were dropped.
inline int64_t sort_unique(std::vector<Point>& points) {
    std::stable_sort(points.begin(), points.end(),
                     [](const Point& a, const Point& b) { return a.ts < b.ts; });
    const auto end = std::unique(points.begin(), points.end(),
                                 [](const Point& a, const Point& b) { return a.ts == b.ts; });
    const auto dropped = static_cast<int64_t>(points.end() - end);
    points.erase(end, points.end());
    return dropped;
}

// Both sorted and unique; a point of `added` at a timestamp `stored` has is dropped (counted in
// `duplicates`): what was stored first stays.
inline std::vector<Point> merge_keep_stored(const std::vector<Point>& stored,
                                            const std::vector<Point>& added, int64_t& duplicates) {
    std::vector<Point> out;
    out.reserve(stored.size() + added.size());
    size_t i = 0, j = 0;
    while (i < stored.size() || j < added.size()) {
        if (j == added.size() || (i < stored.size() && stored[i].ts < added[j].ts)) {
            out.push_back(stored[i++]);
        } else if (i == stored.size() || added[j].ts < stored[i].ts) {
            out.push_back(added[j++]);
        } else {
            out.push_back(stored[i++]);
            ++j;
            ++duplicates;
        }
    }
    return out;
}

}  // namespace dmon::store::points
