#include "proc_system/system_stat.hpp"

#include "proc_common/text.hpp"

#include <charconv>
#include <cmath>

namespace dmon::plugins::proc_system {
namespace {

bool parse_double(std::string_view field, double& out) {
    auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), out);
    return ec == std::errc{} && end == field.data() + field.size() && std::isfinite(out) &&
           out >= 0;
}

}  // namespace

std::optional<LoadAverage> parse_loadavg(std::string_view text) {
    const auto fields = split_fields(text.substr(0, text.find('\n')));
    LoadAverage load;
    if (fields.size() < 3 || !parse_double(fields[0], load.one) ||
        !parse_double(fields[1], load.five) || !parse_double(fields[2], load.fifteen)) {
        return std::nullopt;
    }
    return load;
}

std::optional<double> parse_uptime(std::string_view text) {
    const auto fields = split_fields(text.substr(0, text.find('\n')));
    double seconds = 0;
    if (fields.empty() || !parse_double(fields[0], seconds))
        return std::nullopt;
    return seconds;
}

std::optional<ProcessCounts> parse_stat_processes(std::string_view text) {
    ProcessCounts counts;
    int found = 0;
    for_each_line(text, [&](std::string_view line) {
        const auto fields = split_fields(line);
        if (fields.size() != 2)
            return;
        uint64_t* target = fields[0] == "processes"       ? &counts.created
                           : fields[0] == "procs_running" ? &counts.running
                           : fields[0] == "procs_blocked" ? &counts.blocked
                                                          : nullptr;
        if (target != nullptr && parse_u64(fields[1], *target))
            ++found;
    });
    if (found != 3)
        return std::nullopt;
    return counts;
}

MetricPoints system_metrics(const std::optional<LoadAverage>& load,
                            const std::optional<double>& uptime_seconds,
                            const std::optional<ProcessCounts>& processes) {
    MetricPoints points;
    if (load) {
        points.push_back({"system.cpu.load_average.1m", {}, load->one, DMON_GAUGE});
        points.push_back({"system.cpu.load_average.5m", {}, load->five, DMON_GAUGE});
        points.push_back({"system.cpu.load_average.15m", {}, load->fifteen, DMON_GAUGE});
    }
    if (uptime_seconds)
        points.push_back({"system.uptime", {}, *uptime_seconds, DMON_GAUGE});
    if (processes) {
        const auto d = [](uint64_t v) { return static_cast<double>(v); };
        points.push_back(
            {"system.processes.count", {{"status", "running"}}, d(processes->running), DMON_GAUGE});
        points.push_back(
            {"system.processes.count", {{"status", "blocked"}}, d(processes->blocked), DMON_GAUGE});
        points.push_back({"system.processes.created", {}, d(processes->created), DMON_COUNTER});
    }
    return points;
}

}  // namespace dmon::plugins::proc_system
