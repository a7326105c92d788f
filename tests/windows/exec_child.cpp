// A program for run_program's Windows tests (tests/unit/plugins/exec_windows_test.cpp), which
// finds it next to itself. What it does is its first argument:
//   print            a sample, a line of standard error, its folder and PROBE_VALUE; exit 3
//   sleep            sleeps 300 s
//   hang             starts `exec_child sleep`, prints "pids CHILD PARENT" and a sample, sleeps
//                    300 s (to be killed at the timeout, with the child)
//   leave            starts `exec_child sleep` sharing its standard output, prints "pids CHILD
//                    PARENT" and a sample, and exits 0 (the child must not outlive it)
//   flood            prints 140000 bytes of samples
//   args A B ...     prints each further argument on a line of its own, as it arrived
//   line TEXT        prints TEXT and a newline
#include <windows.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

DWORD start_sleeper(bool share_output) {
    wchar_t self[MAX_PATH];
    ::GetModuleFileNameW(nullptr, self, MAX_PATH);
    std::wstring line = L"\"" + std::wstring(self) + L"\" sleep";
    STARTUPINFOW startup{};
    startup.cb = sizeof(startup);
    if (share_output) {
        startup.dwFlags = STARTF_USESTDHANDLES;
        startup.hStdInput = ::GetStdHandle(STD_INPUT_HANDLE);
        startup.hStdOutput = ::GetStdHandle(STD_OUTPUT_HANDLE);
        startup.hStdError = ::GetStdHandle(STD_ERROR_HANDLE);
    }
    PROCESS_INFORMATION process{};
    if (!::CreateProcessW(nullptr, line.data(), nullptr, nullptr, share_output ? TRUE : FALSE, 0,
                          nullptr, nullptr, &startup, &process)) {
        std::fprintf(stderr, "CreateProcess failed: %lu\n", ::GetLastError());
        std::exit(2);
    }
    ::CloseHandle(process.hThread);
    ::CloseHandle(process.hProcess);
    return process.dwProcessId;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "print") {
        char folder[MAX_PATH];
        ::GetCurrentDirectoryA(MAX_PATH, folder);
        const char* value = std::getenv("PROBE_VALUE");
        std::printf("probe gauge=%s\n", value != nullptr ? value : "none");
        std::printf("folder,at=%s gauge=1\n", folder);
        std::fflush(stdout);
        std::fprintf(stderr, "oops\n");
        return 3;
    }
    if (mode == "sleep") {
        ::Sleep(300000);
        return 0;
    }
    if (mode == "hang" || mode == "leave") {
        const DWORD child = start_sleeper(mode == "leave");
        std::printf("pids %lu %lu\n", child, ::GetCurrentProcessId());
        std::printf("%s gauge=1\n", mode == "hang" ? "partial" : "ok");
        std::fflush(stdout);
        if (mode == "hang")
            ::Sleep(300000);
        return 0;
    }
    if (mode == "args") {
        for (int i = 2; i < argc; ++i)
            std::printf("[%s]\n", argv[i]);
        return 0;
    }
    if (mode == "line" && argc > 2) {
        std::printf("%s\n", argv[2]);
        return 0;
    }
    if (mode == "flood") {
        for (int i = 0; i < 10000; ++i)
            std::fputs("flood gauge=1\n", stdout);
        return 0;
    }
    std::fprintf(stderr, "unknown mode\n");
    return 64;
}
