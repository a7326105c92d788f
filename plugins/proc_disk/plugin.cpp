// proc_disk: per-device operations, bytes and time from /proc/diskstats.
#include "proc_common/read_file.hpp"
#include "proc_disk/diskstats.hpp"

namespace dmon::plugins::proc_disk {

constexpr dmon_option_decl kOptions[] = {
    sdk::option("devices", DMON_OPT_STRING_LIST, nullptr,
                "glob patterns of devices to include (default: all)"),
    sdk::option("exclude", DMON_OPT_STRING_LIST, "loop*,ram*,zram*",
                "glob patterns of devices to leave out"),
    sdk::option("partitions", DMON_OPT_BOOL, "false",
                "also report partitions, not only whole disks"),
    sdk::option("proc_root", DMON_OPT_STRING, "/proc", "where procfs is mounted"),
    sdk::option("sys_root", DMON_OPT_STRING, "/sys",
                "where sysfs is mounted (its block/ folder names whole disks)"),
};

class ProcDisk : public sdk::Collector {
  public:
    explicit ProcDisk(const sdk::Context& context)
        : path_(context.options.string_value("proc_root") + "/diskstats"),
          block_folder_(context.options.string_value("sys_root") + "/block"),
          filter_(context.options.list("devices"), context.options.list("exclude")),
          partitions_(context.options.bool_value("partitions")) {
        // A pattern that matches nothing is most often a typo: say so once, at load.
        std::vector<std::string> names;
        for (const auto& disk : parse_diskstats(read_file(path_)))
            names.push_back(disk.device);
        for (const auto& [option, defaults] :
             {std::pair{"devices", ""}, {"exclude", "loop*,ram*,zram*"}}) {
            for (const auto& warning :
                 unmatched_pattern_warnings(option, context.options.list(option), names, defaults))
                context.host.warn(warning);
        }
    }

    void collect(sdk::Emitter& out) override {
        const auto disks = parse_diskstats(read_file(path_));
        // Disks come and go (USB, hot-plug): ask sysfs each round which names are whole disks.
        std::optional<std::set<std::string>> whole;
        if (auto names = list_folder(block_folder_); !names.empty())
            whole.emplace(names.begin(), names.end());
        emit_all(disk_metrics(disks, filter_, whole, partitions_), out);
    }

  private:
    std::string path_;
    std::string block_folder_;
    NameFilter filter_;
    bool partitions_;
};

}  // namespace dmon::plugins::proc_disk

DMON_COLLECTOR_PLUGIN(dmon::plugins::proc_disk::ProcDisk, "proc_disk", "1.0.0",
                      "per-device read/write operations, bytes and time from /proc/diskstats",
                      dmon::plugins::proc_disk::kOptions, 0)
