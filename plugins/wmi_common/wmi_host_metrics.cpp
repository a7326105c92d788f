#include "wmi_common/wmi_host_metrics.hpp"

#include <algorithm>
#include <charconv>

namespace dmon::plugins::wmi {
namespace {

bool digits(const std::string& text, size_t at, size_t count, int64_t& out) {
    if (at + count > text.size())
        return false;
    out = 0;
    for (size_t i = at; i < at + count; ++i) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        out = out * 10 + (text[i] - '0');
    }
    return true;
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

std::string text_of(const WmiRow& row, const std::string& property) {
    auto it = row.find(property);
    return it == row.end() ? std::string() : it->second;
}

}  // namespace

std::optional<int64_t> parse_cim_datetime_us(const std::string& raw) {
    // Wine pads its value (a trailing space or NUL): what follows the offset is not part of it.
    std::string text = raw;
    while (!text.empty() && (text.back() == ' ' || text.back() == '\0'))
        text.pop_back();
    // yyyymmddHHMMSS.mmmmmmsUUU: 25 characters. Wine writes the offset with fewer digits
    // ("+00"), so 1 to 3 are taken.
    int64_t year, month, day, hour, minute, second, micro, offset;
    if (text.size() < 23 || text.size() > 25 || text[14] != '.' ||
        (text[21] != '+' && text[21] != '-') || !digits(text, 0, 4, year) ||
        !digits(text, 4, 2, month) || !digits(text, 6, 2, day) || !digits(text, 8, 2, hour) ||
        !digits(text, 10, 2, minute) || !digits(text, 12, 2, second) ||
        !digits(text, 15, 6, micro) || !digits(text, 22, text.size() - 22, offset)) {
        return std::nullopt;
    }
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
        return std::nullopt;
    if (text[21] == '-')
        offset = -offset;
    const int64_t seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
                            second - offset * 60;
    return seconds * 1'000'000 + micro;
}

MetricPoints filesystem_metrics(const std::vector<WmiRow>& disks, const NameFilter& drives,
                                const NameFilter& types) {
    MetricPoints points;
    for (const auto& disk : disks) {
        const std::string drive = text_of(disk, "DeviceID");
        const std::string type = text_of(disk, "FileSystem");
        const auto size = unsigned_of(disk, "Size");
        const auto free = unsigned_of(disk, "FreeSpace");
        if (drive.empty() || !size || !free || !drives.accepts(drive) || !types.accepts(type))
            continue;
        const double available = static_cast<double>(std::min(*free, *size));
        const double used = static_cast<double>(*size) - available;
        const auto labels = [&](const char* state) {
            std::vector<std::pair<std::string, std::string>> l{
                {"device", drive}, {"mountpoint", drive}, {"type", type}};
            if (state != nullptr)
                l.emplace_back("state", state);
            return l;
        };
        points.push_back({"system.filesystem.usage", labels("used"), used, DMON_GAUGE});
        points.push_back({"system.filesystem.usage", labels("free"), available, DMON_GAUGE});
        points.push_back({"system.filesystem.usage", labels("reserved"), 0.0, DMON_GAUGE});
        points.push_back({"system.filesystem.utilization", labels(nullptr),
                          *size > 0 ? used / static_cast<double>(*size) : 0.0, DMON_GAUGE});
    }
    return points;
}

MetricPoints system_metrics(const WmiRow& os, std::vector<std::string>& missing) {
    MetricPoints points;
    const auto datetime = [&](const char* property) {
        const std::string text = text_of(os, property);
        auto parsed = parse_cim_datetime_us(text);
        if (!parsed && !os.contains(property))
            missing.push_back(property);
        else if (!parsed)  // there, but not as a CIM datetime: say what it was
            missing.push_back(std::string(property) + " ('" + escape_text(text, 40) + "', " +
                              std::to_string(text.size()) + " bytes, is not a CIM datetime)");
        return parsed;
    };
    const auto booted = datetime("LastBootUpTime");
    const auto now = datetime("LocalDateTime");
    if (booted && now && *now >= *booted) {
        points.push_back(
            {"system.uptime", {}, static_cast<double>(*now - *booted) / 1e6, DMON_GAUGE});
    }
    if (const auto processes = unsigned_of(os, "NumberOfProcesses")) {
        points.push_back({"system.processes.count",
                          {{"status", "all"}},
                          static_cast<double>(*processes),
                          DMON_GAUGE});
    } else {
        missing.push_back("NumberOfProcesses");
    }
    return points;
}

const std::vector<std::string>& process_properties() {
    static const std::vector<std::string> properties{
        "Name",         "ProcessId",      "CommandLine",       "CreationDate",
        "UserModeTime", "KernelModeTime", "WorkingSetSize",    "VirtualSize",
        "ThreadCount",  "HandleCount",    "ReadTransferCount", "WriteTransferCount"};
    return properties;
}

std::vector<proc_process::ProcessReading> process_readings(
    const std::vector<WmiRow>& rows, const std::vector<proc_process::GroupRule>& rules) {
    std::vector<proc_process::ProcessReading> readings;
    for (const auto& row : rows) {
        const auto pid = unsigned_of(row, "ProcessId");
        if (!pid)
            continue;
        proc_process::ProcessReading p;
        p.stat.pid = static_cast<int64_t>(*pid);
        p.stat.comm = text_of(row, "Name");
        p.stat.state = 'R';
        p.stat.user_ticks = unsigned_of(row, "UserModeTime").value_or(0);
        p.stat.system_ticks = unsigned_of(row, "KernelModeTime").value_or(0);
        p.stat.threads = static_cast<int64_t>(unsigned_of(row, "ThreadCount").value_or(0));
        // The start time tells a reused pid apart, as /proc's starttime does.
        const auto created = parse_cim_datetime_us(text_of(row, "CreationDate"));
        p.stat.start_ticks = created ? static_cast<uint64_t>(*created) : 0;
        p.stat.virtual_bytes = unsigned_of(row, "VirtualSize").value_or(0);
        p.stat.resident_pages =
            static_cast<int64_t>(unsigned_of(row, "WorkingSetSize").value_or(0));
        p.cmdline = text_of(row, "CommandLine");
        const auto read = unsigned_of(row, "ReadTransferCount");
        const auto write = unsigned_of(row, "WriteTransferCount");
        if (read && write)
            p.io = proc_process::PidIo{*read, *write};
        if (const auto handles = unsigned_of(row, "HandleCount"))
            p.open_fds = *handles;
        p.group = proc_process::classify(rules, p);
        readings.push_back(std::move(p));
    }
    return readings;
}

std::vector<std::string> missing_process_properties(const std::vector<WmiRow>& rows) {
    std::vector<std::string> missing;
    for (const auto& property : process_properties()) {
        if (property == "CommandLine" || property == "CreationDate" || property == "Name")
            continue;  // not the ground of a sample
        const bool present = std::any_of(rows.begin(), rows.end(),
                                         [&](const WmiRow& row) { return row.contains(property); });
        if (!present)
            missing.push_back(property);
    }
    return missing;
}

void drop_unavailable(MetricPoints& points, const std::vector<std::string>& missing) {
    const auto lacks = [&](const char* property) {
        return std::find(missing.begin(), missing.end(), property) != missing.end();
    };
    std::erase_if(points, [&](const MetricPoint& p) {
        if (p.name == "process.cpu.time")
            return lacks("UserModeTime") || lacks("KernelModeTime");
        if (p.name == "process.memory.usage")
            return lacks("WorkingSetSize");
        if (p.name == "process.memory.virtual")
            return lacks("VirtualSize");
        if (p.name == "process.threads")
            return lacks("ThreadCount");
        if (p.name == "process.disk.io")
            return lacks("ReadTransferCount") || lacks("WriteTransferCount");
        return false;
    });
}

std::string missing_properties_warning(const std::string& cls,
                                       const std::vector<std::string>& missing) {
    std::string names;
    for (const auto& m : missing)
        names += (names.empty() ? "" : ", ") + m;
    return cls + " has no " + names +
           " on this system: the samples built on them are left out (said once)";
}

}  // namespace dmon::plugins::wmi
