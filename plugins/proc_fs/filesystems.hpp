#pragma once

#include "common/name_filter.hpp"
#include "proc_common/metric_point.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dmon::plugins::proc_fs {

// One line of /proc/self/mounts, with the octal escapes (\040 space, \011 tab, \012 newline,
// \134 backslash) the kernel writes for those characters undone.
struct Mount {
    std::string device;
    std::string mountpoint;
    std::string type;
    bool read_only = false;

    bool operator==(const Mount&) const = default;
};

// Parses the mount table. A mount point listed twice (mounted over) keeps only its last line,
// the mount that is visible there; lines with fewer than four fields are skipped.
std::vector<Mount> parse_mounts(std::string_view text);

// What statvfs(3) says of one filesystem, in the units it says it.
struct FsStats {
    uint64_t fragment_size = 0;     // f_frsize: the unit of the block counts
    uint64_t blocks = 0;            // f_blocks
    uint64_t blocks_free = 0;       // f_bfree: free, including the blocks reserved for root
    uint64_t blocks_available = 0;  // f_bavail: free for unprivileged users
    uint64_t files = 0;             // f_files (0: the filesystem has no inode count)
    uint64_t files_free = 0;        // f_ffree
};

// Which mounts are reported: types and mount points, each an include/exclude glob list.
struct MountFilter {
    NameFilter types;
    NameFilter mountpoints;
    bool accepts(const Mount& mount) const {
        return types.accepts(mount.type) && mountpoints.accepts(mount.mountpoint);
    }
};

// Filesystem types with nothing on a disk behind them (kernel interfaces), left out by default.
inline constexpr const char* kPseudoTypes =
    "autofs,binfmt_misc,bpf,cgroup,cgroup2,configfs,debugfs,devpts,devtmpfs,efivarfs,fusectl,"
    "hugetlbfs,mqueue,nsfs,proc,pstore,ramfs,rpc_pipefs,securityfs,selinuxfs,sysfs,tracefs";

// system.filesystem.usage{state=used|free|reserved} in bytes (as df: used = blocks - bfree,
// free = bavail, reserved = bfree - bavail), system.filesystem.utilization = used / (used + free)
// (df's Use%), and when with_inodes and the filesystem counts them,
// system.filesystem.inodes.usage{state=used|free}. Labels: device, mountpoint, type (+ state).
void append_filesystem_metrics(const Mount& mount, const FsStats& stats, bool with_inodes,
                               MetricPoints& out);

}  // namespace dmon::plugins::proc_fs
