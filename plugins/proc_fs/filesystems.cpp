#include "proc_fs/filesystems.hpp"

#include "proc_common/text.hpp"

#include <algorithm>

namespace dmon::plugins::proc_fs {
namespace {

// Undoes the kernel's octal escapes (fs/proc_namespace.c mangles " \t\n\\" as \ooo).
std::string unescape(std::string_view field) {
    std::string out;
    out.reserve(field.size());
    const auto octal = [](char c) { return c >= '0' && c <= '7'; };
    for (size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '\\' && i + 3 < field.size() && octal(field[i + 1]) &&
            octal(field[i + 2]) && octal(field[i + 3])) {
            out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                            (field[i + 3] - '0')));
            i += 3;
            continue;
        }
        out.push_back(field[i]);
    }
    return out;
}

bool has_option(std::string_view options, std::string_view wanted) {
    size_t start = 0;
    while (start <= options.size()) {
        size_t comma = options.find(',', start);
        if (comma == std::string_view::npos)
            comma = options.size();
        if (options.substr(start, comma - start) == wanted)
            return true;
        start = comma + 1;
    }
    return false;
}

}  // namespace

std::vector<Mount> parse_mounts(std::string_view text) {
    std::vector<Mount> mounts;
    for_each_line(text, [&](std::string_view line) {
        const auto fields = split_fields(line);
        if (fields.size() < 4)
            return;
        Mount mount{unescape(fields[0]), unescape(fields[1]), unescape(fields[2]),
                    has_option(fields[3], "ro")};
        // Mounted over: the later line is what a path under it reaches.
        std::erase_if(mounts, [&](const Mount& m) { return m.mountpoint == mount.mountpoint; });
        mounts.push_back(std::move(mount));
    });
    return mounts;
}

void append_filesystem_metrics(const Mount& mount, const FsStats& stats, bool with_inodes,
                               MetricPoints& out) {
    const auto labels = [&](const char* state) {
        return std::vector<std::pair<std::string, std::string>>{{"device", mount.device},
                                                                {"mountpoint", mount.mountpoint},
                                                                {"type", mount.type},
                                                                {"state", state}};
    };
    // A filesystem reporting more free than it has is not trusted: clamp rather than underflow.
    const uint64_t free_blocks = std::min(stats.blocks_free, stats.blocks);
    const uint64_t available = std::min(stats.blocks_available, free_blocks);
    const double unit = static_cast<double>(stats.fragment_size);
    const double used = static_cast<double>(stats.blocks - free_blocks) * unit;
    const double free = static_cast<double>(available) * unit;
    const double reserved = static_cast<double>(free_blocks - available) * unit;
    out.push_back({"system.filesystem.usage", labels("used"), used, DMON_GAUGE});
    out.push_back({"system.filesystem.usage", labels("free"), free, DMON_GAUGE});
    out.push_back({"system.filesystem.usage", labels("reserved"), reserved, DMON_GAUGE});
    out.push_back(
        {"system.filesystem.utilization",
         {{"device", mount.device}, {"mountpoint", mount.mountpoint}, {"type", mount.type}},
         used + free > 0 ? used / (used + free) : 0.0,
         DMON_GAUGE});
    if (with_inodes && stats.files > 0) {
        const uint64_t files_free = std::min(stats.files_free, stats.files);
        out.push_back({"system.filesystem.inodes.usage", labels("used"),
                       static_cast<double>(stats.files - files_free), DMON_GAUGE});
        out.push_back({"system.filesystem.inodes.usage", labels("free"),
                       static_cast<double>(files_free), DMON_GAUGE});
    }
}

}  // namespace dmon::plugins::proc_fs
