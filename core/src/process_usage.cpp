#include "dmon/core/process_usage.hpp"

#ifdef _WIN32
#include <windows.h>
#include <psapi.h>
#else
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#endif

namespace dmon::core {

#ifdef _WIN32
ProcessUsage process_usage() {
    ProcessUsage usage;
    FILETIME created, exited, kernel, user;
    auto seconds = [](const FILETIME& time) {
        const ULONGLONG ticks =
            (static_cast<ULONGLONG>(time.dwHighDateTime) << 32) | time.dwLowDateTime;
        return static_cast<double>(ticks) / 1e7;  // 100 ns units
    };
    if (GetProcessTimes(GetCurrentProcess(), &created, &exited, &kernel, &user)) {
        usage.user_cpu_seconds = seconds(user);
        usage.system_cpu_seconds = seconds(kernel);
    }
    PROCESS_MEMORY_COUNTERS counters{};
    if (K32GetProcessMemoryInfo(GetCurrentProcess(), &counters, sizeof counters))
        usage.resident_bytes = counters.WorkingSetSize;
    return usage;
}
#else
ProcessUsage process_usage() {
    ProcessUsage usage;
    rusage self{};
    if (getrusage(RUSAGE_SELF, &self) == 0) {
        usage.user_cpu_seconds =
            static_cast<double>(self.ru_utime.tv_sec) + self.ru_utime.tv_usec / 1e6;
        usage.system_cpu_seconds =
            static_cast<double>(self.ru_stime.tv_sec) + self.ru_stime.tv_usec / 1e6;
    }
    // Current resident set (getrusage only knows the peak): /proc/self/statm, in pages.
    if (FILE* statm = std::fopen("/proc/self/statm", "r")) {
        unsigned long long size = 0, resident = 0;
        if (std::fscanf(statm, "%llu %llu", &size, &resident) == 2)
            usage.resident_bytes = resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
        std::fclose(statm);
    }
    return usage;
}
#endif

}  // namespace dmon::core
