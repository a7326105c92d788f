#pragma once

#include "proc_common/metric_point.hpp"
#include "proc_process/pattern.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dmon::plugins::proc_process {

// The fields of /proc/PID/stat that dmon reports. comm is in parentheses and may itself hold
// spaces and ')': the fields after it are counted from the last ')'.
struct PidStat {
    int64_t pid = 0;
    std::string comm;  // the executable name, cut to 15 bytes by the kernel
    char state = '?';
    uint64_t user_ticks = 0;    // utime
    uint64_t system_ticks = 0;  // stime
    int64_t threads = 0;
    uint64_t start_ticks = 0;  // starttime: with pid, what tells a reused pid apart
    uint64_t virtual_bytes = 0;
    int64_t resident_pages = 0;
};
std::optional<PidStat> parse_pid_stat(std::string_view text);

// read_bytes/write_bytes of /proc/PID/io: what reached (or came from) the storage layer.
struct PidIo {
    uint64_t read_bytes = 0;
    uint64_t write_bytes = 0;
};
std::optional<PidIo> parse_pid_io(std::string_view text);

// /proc/PID/cmdline: arguments separated by NUL, shown separated by spaces.
std::string parse_cmdline(std::string_view text);

// A group of processes from the config: `name: "^nginx"` (a regex on the executable name), or a
// map with any of name, cmdline (a regex on the command line) and user (a user name, exactly).
// Regexes are POSIX extended (as grep -E), searched: anchor them with ^...$.
struct GroupRule {
    std::string group;
    std::optional<Pattern> name;
    std::optional<Pattern> cmdline;
    std::optional<std::string> user;
};

struct RuleEntry {  // one (key, field, value) of the `groups` option
    std::string key, field, value;
};
// Throws std::invalid_argument naming the group and what is wrong (a bad regex, an unknown field).
std::vector<GroupRule> parse_group_rules(const std::vector<RuleEntry>& entries);

// One process as read this round. io and open_fds are empty when they could not be read (another
// user's process without CAP_SYS_PTRACE), or were not asked for (not grouped, not in the top).
struct ProcessReading {
    PidStat stat;
    std::string cmdline;  // read only when a rule needs it
    std::string user;     // likewise
    int group = -1;       // index of the first matching rule, -1: none
    std::optional<PidIo> io;
    std::optional<uint64_t> open_fds;
};

// The first rule a process matches (every field the rule sets must match), or -1.
int classify(const std::vector<GroupRule>& rules, const ProcessReading& process);
bool rules_need_cmdline(const std::vector<GroupRule>& rules);
bool rules_need_user(const std::vector<GroupRule>& rules);

struct TopSpec {
    size_t count = 0;        // 0: no top list
    bool by_memory = false;  // else by CPU time used since the last round
};

// The options proc_process and wmi_process share: `groups`, `top`, `top_by`, checked. Throws
// std::invalid_argument naming the option and what is wrong.
struct GroupOptions {
    std::vector<GroupRule> rules;
    std::vector<std::string> names;  // of the groups, in order
    TopSpec top;
};
GroupOptions group_options(const std::vector<RuleEntry>& groups, int64_t top,
                           const std::string& top_by, bool user_rules_supported);

// Sums processes per group, round after round. Counters (CPU time, disk I/O) never go backwards:
// a process that exits (or whose pid is reused, told apart by its start time) leaves what it
// used in its group's total. Memory, threads, descriptors and the count are this round's sums.
class ProcessGroups {
  public:
    ProcessGroups(std::vector<std::string> group_names, double ticks_per_second, uint64_t page_size,
                  TopSpec top);

    // Which pids deserve the top list this round (reads io/fds only for those and the grouped).
    std::vector<int64_t> top_pids(const std::vector<ProcessReading>& processes) const;

    // `top`: what top_pids gave for these readings (the caller needed it first, to read their
    // details); without it, it is worked out here.
    MetricPoints update(const std::vector<ProcessReading>& processes,
                        const std::vector<int64_t>& top);
    MetricPoints update(const std::vector<ProcessReading>& processes) {
        return update(processes, top_pids(processes));
    }

  private:
    struct Key {
        int64_t pid;
        uint64_t start;
        auto operator<=>(const Key&) const = default;
    };
    struct Seen {  // what a live process had used at its last reading
        int group = -1;
        uint64_t user_ticks = 0, system_ticks = 0;
        uint64_t read_bytes = 0, write_bytes = 0;
    };
    struct Totals {  // what exited processes of a group used, for ever
        uint64_t user_ticks = 0, system_ticks = 0;
        uint64_t read_bytes = 0, write_bytes = 0;
    };
    double cpu_seconds_since_last(const ProcessReading& process) const;

    std::vector<std::string> groups_;
    double ticks_per_second_;
    uint64_t page_size_;
    TopSpec top_;
    std::map<Key, Seen> seen_;
    std::vector<Totals> retired_;
};

}  // namespace dmon::plugins::proc_process
