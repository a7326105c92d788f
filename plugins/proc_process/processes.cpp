#include "proc_process/processes.hpp"

#include "proc_common/text.hpp"

#include <algorithm>
#include <stdexcept>

namespace dmon::plugins::proc_process {

std::optional<PidStat> parse_pid_stat(std::string_view text) {
    const size_t open = text.find('(');
    const size_t close = text.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open)
        return std::nullopt;
    PidStat stat;
    uint64_t pid = 0;
    const auto head = split_fields(text.substr(0, open));
    if (head.size() != 1 || !parse_u64(head[0], pid))
        return std::nullopt;
    stat.pid = static_cast<int64_t>(pid);
    stat.comm = std::string(text.substr(open + 1, close - open - 1));
    // After ") ": state is field 3 of proc(5); fields[i] here is field i + 3.
    const auto fields = split_fields(text.substr(close + 1));
    if (fields.size() < 22 || fields[0].size() != 1)
        return std::nullopt;
    stat.state = fields[0][0];
    uint64_t threads = 0, rss = 0;
    if (!parse_u64(fields[11], stat.user_ticks) || !parse_u64(fields[12], stat.system_ticks) ||
        !parse_u64(fields[17], threads) || !parse_u64(fields[19], stat.start_ticks) ||
        !parse_u64(fields[20], stat.virtual_bytes)) {
        return std::nullopt;
    }
    // rss is signed in the kernel's format (%ld); a negative one is read as 0.
    if (!parse_u64(fields[21], rss) && fields[21].front() != '-')
        return std::nullopt;
    stat.threads = static_cast<int64_t>(threads);
    stat.resident_pages = static_cast<int64_t>(rss);
    return stat;
}

std::optional<PidIo> parse_pid_io(std::string_view text) {
    PidIo io;
    int found = 0;
    for_each_line(text, [&](std::string_view line) {
        const auto fields = split_fields(line);
        if (fields.size() != 2)
            return;
        if (fields[0] == "read_bytes:" && parse_u64(fields[1], io.read_bytes))
            ++found;
        else if (fields[0] == "write_bytes:" && parse_u64(fields[1], io.write_bytes))
            ++found;
    });
    if (found != 2)
        return std::nullopt;
    return io;
}

std::string parse_cmdline(std::string_view text) {
    std::string out(text);
    while (!out.empty() && out.back() == '\0')
        out.pop_back();
    std::replace(out.begin(), out.end(), '\0', ' ');
    return out;
}

std::vector<GroupRule> parse_group_rules(const std::vector<RuleEntry>& entries) {
    std::vector<GroupRule> rules;
    const auto compile = [](const std::string& group, const std::string& field,
                            const std::string& pattern) {
        try {
            return Pattern(pattern);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument("group '" + group + "': " + field + " '" + pattern +
                                        "' is not a regular expression: " + e.what());
        }
    };
    for (const auto& entry : entries) {
        if (rules.empty() || rules.back().group != entry.key) {
            if (std::any_of(rules.begin(), rules.end(),
                            [&](const GroupRule& r) { return r.group == entry.key; }))
                throw std::invalid_argument("group '" + entry.key + "' is listed twice");
            rules.push_back(GroupRule{entry.key, {}, {}, {}});
        }
        GroupRule& rule = rules.back();
        if (entry.field.empty() || entry.field == "name") {
            rule.name = compile(entry.key, "name", entry.value);
        } else if (entry.field == "cmdline") {
            rule.cmdline = compile(entry.key, "cmdline", entry.value);
        } else if (entry.field == "user") {
            rule.user = entry.value;
        } else {
            throw std::invalid_argument("group '" + entry.key + "': unknown field '" + entry.field +
                                        "' (valid: name, cmdline, user)");
        }
    }
    return rules;
}

GroupOptions group_options(const std::vector<RuleEntry>& groups, int64_t top,
                           const std::string& top_by, bool user_rules_supported) {
    if (groups.empty())
        throw std::invalid_argument(
            "option 'groups' lists no group (e.g. groups: {web: \"^nginx\"})");
    GroupOptions options;
    try {
        options.rules = parse_group_rules(groups);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string("option 'groups': ") + e.what());
    }
    if (!user_rules_supported && rules_need_user(options.rules))
        throw std::invalid_argument("option 'groups': a `user:` rule is not supported here yet");
    for (const auto& rule : options.rules)
        options.names.push_back(rule.group);
    if (top < 0 || top > 100)
        throw std::invalid_argument("option 'top' must be between 0 and 100, not " +
                                    std::to_string(top));
    if (top_by != "cpu" && top_by != "memory")
        throw std::invalid_argument("option 'top_by' must be cpu or memory, not '" + top_by + "'");
    options.top = TopSpec{static_cast<size_t>(top), top_by == "memory"};
    return options;
}

int classify(const std::vector<GroupRule>& rules, const ProcessReading& process) {
    for (size_t i = 0; i < rules.size(); ++i) {
        const GroupRule& rule = rules[i];
        if (rule.name && !rule.name->found_in(process.stat.comm))
            continue;
        if (rule.cmdline && !rule.cmdline->found_in(process.cmdline))
            continue;
        if (rule.user && process.user != *rule.user)
            continue;
        return static_cast<int>(i);
    }
    return -1;
}

bool rules_need_cmdline(const std::vector<GroupRule>& rules) {
    return std::any_of(rules.begin(), rules.end(),
                       [](const auto& r) { return r.cmdline.has_value(); });
}
bool rules_need_user(const std::vector<GroupRule>& rules) {
    return std::any_of(rules.begin(), rules.end(),
                       [](const auto& r) { return r.user.has_value(); });
}

ProcessGroups::ProcessGroups(std::vector<std::string> group_names, double ticks_per_second,
                             uint64_t page_size, TopSpec top)
    : groups_(std::move(group_names)),
      ticks_per_second_(ticks_per_second),
      page_size_(page_size),
      top_(top),
      retired_(groups_.size()) {}

double ProcessGroups::cpu_seconds_since_last(const ProcessReading& process) const {
    const uint64_t now = process.stat.user_ticks + process.stat.system_ticks;
    auto it = seen_.find(Key{process.stat.pid, process.stat.start_ticks});
    const uint64_t before = it == seen_.end() ? 0 : it->second.user_ticks + it->second.system_ticks;
    // A process first seen counts what it used since it started: it may have started this round.
    return static_cast<double>(now >= before ? now - before : 0) / ticks_per_second_;
}

std::vector<int64_t> ProcessGroups::top_pids(const std::vector<ProcessReading>& processes) const {
    if (top_.count == 0)
        return {};
    std::vector<std::pair<double, int64_t>> ranked;
    ranked.reserve(processes.size());
    for (const auto& process : processes) {
        const double score = top_.by_memory ? static_cast<double>(process.stat.resident_pages)
                                            : cpu_seconds_since_last(process);
        ranked.emplace_back(score, process.stat.pid);
    }
    const size_t n = std::min(top_.count, ranked.size());
    // Ties go to the lower pid, so the list is the same for the same readings.
    std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n), ranked.end(),
                      [](const auto& a, const auto& b) {
                          return a.first != b.first ? a.first > b.first : a.second < b.second;
                      });
    std::vector<int64_t> pids;
    for (size_t i = 0; i < n; ++i)
        pids.push_back(ranked[i].second);
    return pids;
}

MetricPoints ProcessGroups::update(const std::vector<ProcessReading>& processes,
                                   const std::vector<int64_t>& top) {
    struct Sum {
        uint64_t count = 0;
        uint64_t user_ticks = 0, system_ticks = 0, read_bytes = 0, write_bytes = 0;
        double resident = 0, virtual_bytes = 0, threads = 0, fds = 0;
        bool fds_read = false;  // none readable: no descriptor count, rather than a false 0
    };
    std::vector<Sum> sums(groups_.size());
    MetricPoints points;
    const auto d = [](uint64_t v) { return static_cast<double>(v); };
    const auto emit = [&](const std::vector<std::pair<std::string, std::string>>& labels,
                          double user_seconds, double system_seconds, double resident,
                          double virtual_bytes, double read, double write, double threads,
                          std::optional<double> fds, double count, bool with_count) {
        auto with = [&](const char* key, const char* value) {
            auto l = labels;
            l.emplace_back(key, value);
            return l;
        };
        points.push_back({"process.cpu.time", with("state", "user"), user_seconds, DMON_COUNTER});
        points.push_back(
            {"process.cpu.time", with("state", "system"), system_seconds, DMON_COUNTER});
        points.push_back({"process.memory.usage", labels, resident, DMON_GAUGE});
        points.push_back({"process.memory.virtual", labels, virtual_bytes, DMON_GAUGE});
        points.push_back({"process.disk.io", with("direction", "read"), read, DMON_COUNTER});
        points.push_back({"process.disk.io", with("direction", "write"), write, DMON_COUNTER});
        points.push_back({"process.threads", labels, threads, DMON_GAUGE});
        if (fds)
            points.push_back({"process.open_file_descriptors", labels, *fds, DMON_GAUGE});
        if (with_count)
            points.push_back({"process.count", labels, count, DMON_GAUGE});
    };

    std::map<Key, Seen> now;
    for (const auto& process : processes) {
        const PidStat& s = process.stat;
        const Key key{s.pid, s.start_ticks};
        Seen seen{process.group, s.user_ticks, s.system_ticks, 0, 0};
        auto before = seen_.find(key);
        // Counters a process stops showing (io became unreadable) keep their last value.
        if (process.io) {
            seen.read_bytes = process.io->read_bytes;
            seen.write_bytes = process.io->write_bytes;
        } else if (before != seen_.end()) {
            seen.read_bytes = before->second.read_bytes;
            seen.write_bytes = before->second.write_bytes;
        }
        // A process that moved to another group (it exec'd something else) leaves what it used
        // in the old one, and starts from zero in the new one.
        if (before != seen_.end() && before->second.group != process.group &&
            before->second.group >= 0) {
            Totals& old = retired_[static_cast<size_t>(before->second.group)];
            old.user_ticks += before->second.user_ticks;
            old.system_ticks += before->second.system_ticks;
            old.read_bytes += before->second.read_bytes;
            old.write_bytes += before->second.write_bytes;
        }
        if (before != seen_.end())
            seen_.erase(before);
        if (process.group >= 0) {
            Sum& sum = sums[static_cast<size_t>(process.group)];
            ++sum.count;
            sum.user_ticks += seen.user_ticks;
            sum.system_ticks += seen.system_ticks;
            sum.read_bytes += seen.read_bytes;
            sum.write_bytes += seen.write_bytes;
            sum.resident +=
                d(static_cast<uint64_t>(std::max<int64_t>(s.resident_pages, 0))) * d(page_size_);
            sum.virtual_bytes += d(s.virtual_bytes);
            sum.threads += static_cast<double>(s.threads);
            if (process.open_fds) {
                sum.fds += d(*process.open_fds);
                sum.fds_read = true;
            }
        }
        if (std::find(top.begin(), top.end(), s.pid) != top.end()) {
            emit({{"group", "top"}, {"pid", std::to_string(s.pid)}, {"name", s.comm}},
                 d(s.user_ticks) / ticks_per_second_, d(s.system_ticks) / ticks_per_second_,
                 d(static_cast<uint64_t>(std::max<int64_t>(s.resident_pages, 0))) * d(page_size_),
                 d(s.virtual_bytes), d(seen.read_bytes), d(seen.write_bytes), d(s.threads),
                 process.open_fds ? std::optional(d(*process.open_fds)) : std::nullopt, 1, false);
        }
        now.emplace(key, seen);
    }
    // Whatever is left in seen_ has exited (or its pid was reused): its use stays with its group.
    for (const auto& [key, gone] : seen_) {
        if (gone.group < 0 || static_cast<size_t>(gone.group) >= retired_.size())
            continue;
        Totals& total = retired_[static_cast<size_t>(gone.group)];
        total.user_ticks += gone.user_ticks;
        total.system_ticks += gone.system_ticks;
        total.read_bytes += gone.read_bytes;
        total.write_bytes += gone.write_bytes;
    }
    seen_ = std::move(now);
    for (size_t g = 0; g < groups_.size(); ++g) {
        const Sum& sum = sums[g];
        const Totals& total = retired_[g];
        emit({{"group", groups_[g]}}, d(total.user_ticks + sum.user_ticks) / ticks_per_second_,
             d(total.system_ticks + sum.system_ticks) / ticks_per_second_, sum.resident,
             sum.virtual_bytes, d(total.read_bytes + sum.read_bytes),
             d(total.write_bytes + sum.write_bytes), sum.threads,
             sum.fds_read ? std::optional(sum.fds) : std::nullopt, d(sum.count), true);
    }
    return points;
}

}  // namespace dmon::plugins::proc_process
