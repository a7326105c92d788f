// proc_fs: size, use and inodes of each mounted filesystem, from the mount table and statvfs.
#include "proc_common/read_file.hpp"
#include "proc_fs/filesystems.hpp"
#include "proc_fs/mount_prober.hpp"

#include <dlfcn.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <set>

namespace dmon::plugins::proc_fs {

constexpr const char* kDefaultExcludedMountpoints =
    "/proc/*,/sys/*,/dev/*,/run/credentials/*,/run/user/*/doc,/var/lib/docker/*,/snap/*";

constexpr dmon_option_decl kOptions[] = {
    sdk::option("mountpoints", DMON_OPT_STRING_LIST, nullptr,
                "glob patterns of mount points to include (default: all)"),
    sdk::option("exclude_mountpoints", DMON_OPT_STRING_LIST, kDefaultExcludedMountpoints,
                "glob patterns of mount points to leave out"),
    sdk::option("types", DMON_OPT_STRING_LIST, nullptr,
                "glob patterns of filesystem types to include (default: all)"),
    sdk::option("exclude_types", DMON_OPT_STRING_LIST, kPseudoTypes,
                "glob patterns of filesystem types to leave out (default: kernel interfaces)"),
    sdk::option("inodes", DMON_OPT_BOOL, "true", "also report system.filesystem.inodes.usage"),
    sdk::option("timeout", DMON_OPT_DURATION, "2s",
                "the longest one mount may take to answer; a hung one is then skipped until it "
                "answers"),
    sdk::option("proc_root", DMON_OPT_STRING, "/proc",
                "where procfs is mounted (its self/mounts is the mount table)"),
    sdk::option("root", DMON_OPT_STRING, "",
                "prefix of every mount point when the host's / is mounted elsewhere (e.g. /host "
                "in a container)"),
};

int statvfs_of(const std::string& path, FsStats& out) {
    struct statvfs raw {};
    if (::statvfs(path.c_str(), &raw) != 0)
        return errno;
    out.fragment_size = raw.f_frsize != 0 ? raw.f_frsize : raw.f_bsize;
    out.blocks = raw.f_blocks;
    out.blocks_free = raw.f_bfree;
    out.blocks_available = raw.f_bavail;
    out.files = raw.f_files;
    out.files_free = raw.f_ffree;
    return 0;
}

// A worker left in a hung statvfs runs this library's code when the call returns, perhaps long
// after the instance (or a hot reload) is gone: keep the library loaded for the process's life.
void pin_this_library() {
    Dl_info info{};
    if (::dladdr(reinterpret_cast<void*>(&pin_this_library), &info) != 0 &&
        info.dli_fname != nullptr) {
        ::dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    }
}

class ProcFs : public sdk::Collector {
  public:
    explicit ProcFs(const sdk::Context& context)
        : host_(context.host),
          mounts_path_(context.options.string_value("proc_root") + "/self/mounts"),
          root_(context.options.string_value("root")),
          filter_{NameFilter(context.options.list("types"), context.options.list("exclude_types")),
                  NameFilter(context.options.list("mountpoints"),
                             context.options.list("exclude_mountpoints"))},
          inodes_(context.options.bool_value("inodes")),
          prober_(&statvfs_of,
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::nanoseconds(context.options.duration_value_ns("timeout"))),
                  &pin_this_library) {
        // A pattern that matches nothing is most often a typo: say so once, at load.
        const auto mounts = parse_mounts(read_file(mounts_path_));
        std::vector<std::string> points, types;
        for (const auto& mount : mounts) {
            points.push_back(mount.mountpoint);
            if (std::find(types.begin(), types.end(), mount.type) == types.end())
                types.push_back(mount.type);
        }
        for (const auto& [option, names, defaults] :
             {std::tuple{"mountpoints", &points, ""},
              std::tuple{"exclude_mountpoints", &points, kDefaultExcludedMountpoints},
              std::tuple{"types", &types, ""}, std::tuple{"exclude_types", &types, kPseudoTypes}}) {
            for (const auto& warning :
                 unmatched_pattern_warnings(option, context.options.list(option), *names, defaults))
                host_.warn(warning);
        }
    }

    void collect(sdk::Emitter& out) override {
        std::vector<Mount> mounts;
        for (auto& mount : parse_mounts(read_file(mounts_path_))) {
            if (filter_.accepts(mount))
                mounts.push_back(std::move(mount));
        }
        std::vector<std::string> paths;
        paths.reserve(mounts.size());
        for (const auto& mount : mounts)
            paths.push_back(root_ + mount.mountpoint);
        const auto results = prober_.probe(paths);
        MetricPoints points;
        for (size_t i = 0; i < mounts.size(); ++i) {
            const auto& result = results[i];
            const std::string& where = mounts[i].mountpoint;
            switch (result.outcome) {
                case MountProber::Outcome::ok:
                    if (unavailable_.erase(where))
                        host_.info("mount point '" + escape_text(where) + "' answers again");
                    append_filesystem_metrics(mounts[i], result.stats, inodes_, points);
                    break;
                case MountProber::Outcome::gone:  // unmounted since the table was read
                    break;
                case MountProber::Outcome::failed:
                    host_.count("fs.unavailable{reason=error}");
                    if (unavailable_.insert(where).second)
                        host_.warn("mount point '" + escape_text(where) +
                                   "': statvfs failed: " + std::strerror(result.error) +
                                   " (not reported while it fails; counted in "
                                   "dmon.fs.unavailable)");
                    break;
                case MountProber::Outcome::timed_out:
                    host_.count("fs.unavailable{reason=timeout}");
                    unavailable_.insert(where);
                    host_.warn("mount point '" + escape_text(where) +
                               "' did not answer statvfs in time: skipped until it does "
                               "(counted in dmon.fs.unavailable)");
                    break;
                case MountProber::Outcome::stuck:
                    host_.count("fs.unavailable{reason=hung}");
                    break;
            }
        }
        emit_all(points, out);
    }

  private:
    sdk::Host host_;
    std::string mounts_path_;
    std::string root_;
    MountFilter filter_;
    bool inodes_;
    MountProber prober_;
    std::set<std::string> unavailable_;  // warned about: said once, and again when it is back
};

}  // namespace dmon::plugins::proc_fs

DMON_COLLECTOR_PLUGIN(dmon::plugins::proc_fs::ProcFs, "proc_fs", "1.0.0",
                      "size, use and inodes of mounted filesystems (statvfs, a hung mount cannot "
                      "block it)",
                      dmon::plugins::proc_fs::kOptions, 0)
