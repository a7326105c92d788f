// run_program's Windows half (plugins/exec/child_process_windows.cpp), run under Wine in CI,
// against tests/windows/exec_child.cpp, which it finds next to this test program.
#include "exec/child_process.hpp"

#include <windows.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace dmon::plugins::exec {
namespace {

std::string child_program() {
    char self[MAX_PATH];
    const DWORD length = ::GetModuleFileNameA(nullptr, self, MAX_PATH);
    std::string path(self, length);
    return path.substr(0, path.find_last_of("\\/") + 1) + "dmon_exec_test_child.exe";
}

struct TempFolder {
    std::string path;
    TempFolder() {
        char base[MAX_PATH];
        ::GetTempPathA(MAX_PATH, base);
        path = std::string(base) + "dmon-exec-" + std::to_string(::GetCurrentProcessId()) + "-" +
               std::to_string(::GetTickCount64());
        ::CreateDirectoryA(path.c_str(), nullptr);
    }
    ~TempFolder() { ::RemoveDirectoryA(path.c_str()); }
};

// The "pids CHILD PARENT" line the helper prints first.
std::pair<unsigned long, unsigned long> pids_in(const std::string& output) {
    unsigned long child = 0, parent = 0;
    if (std::sscanf(output.c_str(), "pids %lu %lu", &child, &parent) != 2)
        child = parent = 0;
    return {child, parent};
}

// Gone, or ends within two seconds (a terminated process is signalled at once).
bool ended(unsigned long pid) {
    HANDLE process = ::OpenProcess(SYNCHRONIZE, FALSE, pid);
    if (process == nullptr)
        return true;
    const bool done = ::WaitForSingleObject(process, 2000) == WAIT_OBJECT_0;
    ::CloseHandle(process);
    return done;
}

RunSpec spec_for(std::vector<std::string> arguments) {
    RunSpec spec;
    spec.argv = {child_program()};
    spec.argv.insert(spec.argv.end(), arguments.begin(), arguments.end());
    spec.environment = minimal_environment();
    spec.timeout = 20s;  // Wine starts a program in tens to hundreds of ms
    return spec;
}

TEST(RunProgramWindows, OutputErrorsExitCodeEnvironmentAndFolder) {
    TempFolder folder;
    RunSpec spec = spec_for({"print"});
    set_variable(spec.environment, "PROBE_VALUE=7");
    spec.working_directory = folder.path;
    const auto result = run_program(spec);
    ASSERT_TRUE(result.started) << result.start_error;
    EXPECT_EQ(result.exit_code, 3);
    EXPECT_FALSE(result.timed_out);
    EXPECT_EQ(result.errors, "oops\r\n");  // text-mode standard error: CR LF
    EXPECT_EQ(result.output.rfind("probe gauge=7\r\nfolder,at=", 0), 0u) << result.output;
    const std::string leaf = folder.path.substr(folder.path.find_last_of('\\') + 1);
    EXPECT_NE(result.output.find(leaf + " gauge=1\r\n"), std::string::npos) << result.output;
}

TEST(RunProgramWindows, ArgumentsArriveAsGiven) {
    const auto result = run_program(
        spec_for({"args", "a b", "x\"y", "C:\\dir\\", "", "back\\\\\"q", "plain", "tab\there"}));
    ASSERT_TRUE(result.started) << result.start_error;
    EXPECT_EQ(
        result.output,
        "[a b]\r\n[x\"y]\r\n[C:\\dir\\]\r\n[]\r\n[back\\\\\"q]\r\n[plain]\r\n[tab\there]\r\n");
}

TEST(RunProgramWindows, AMissingProgramIsAReason) {
    RunSpec spec;
    spec.argv = {"C:\\nonexistent\\probe.exe"};
    spec.environment = minimal_environment();
    const auto result = run_program(spec);
    EXPECT_FALSE(result.started);
    EXPECT_NE(result.start_error.find("probe.exe: "), std::string::npos) << result.start_error;
}

TEST(RunProgramWindows, TheShellIsCmd) {
    RunSpec spec;
    spec.shell_command = "echo shell gauge=1& exit /b 5";
    spec.environment = minimal_environment();
    spec.timeout = 20s;
    const auto result = run_program(spec);
    ASSERT_TRUE(result.started) << result.start_error;
    EXPECT_EQ(result.output, "shell gauge=1\r\n");
    EXPECT_EQ(result.exit_code, 5);
}

TEST(RunProgramWindows, OverrunIsEndedWithWhatItStarted) {
    RunSpec spec = spec_for({"hang"});
    spec.timeout = 3s;
    const auto result = run_program(spec);
    ASSERT_TRUE(result.started) << result.start_error;
    EXPECT_TRUE(result.timed_out);
    EXPECT_LT(result.took, 15s);  // bounded, not a timing figure: it asked for 300 s
    const auto [child, parent] = pids_in(result.output);
    ASSERT_GT(child, 0u) << "the program did not get to start its child within the timeout: "
                         << result.output;
    EXPECT_TRUE(ended(parent));
    EXPECT_TRUE(ended(child));
}

TEST(RunProgramWindows, WhatItLeavesRunningDoesNotOutliveIt) {
    const auto result = run_program(spec_for({"leave"}));
    ASSERT_TRUE(result.started) << result.start_error;
    EXPECT_FALSE(result.timed_out);
    EXPECT_EQ(result.exit_code, 0);
    EXPECT_NE(result.output.find("\r\nok gauge=1\r\n"), std::string::npos) << result.output;
    EXPECT_LT(result.took, 15s);  // the child holding the pipe did not hold the run for 300 s
    const auto [child, parent] = pids_in(result.output);
    ASSERT_GT(child, 0u) << result.output;
    EXPECT_TRUE(ended(child));
}

TEST(RunProgramWindows, OutputPastTheLimitIsRefusedWhole) {
    RunSpec spec = spec_for({"flood"});
    spec.max_output_bytes = 1000;
    const auto result = run_program(spec);
    EXPECT_TRUE(result.output_overflow);
    EXPECT_TRUE(result.output.empty());
}

TEST(RunProgramWindows, VariableNamesAreCaseInsensitive) {
    std::vector<std::string> environment{"Path=C:\\one", "TEMP=C:\\t"};
    set_variable(environment, "PATH=C:\\two");
    EXPECT_EQ(environment, (std::vector<std::string>{"TEMP=C:\\t", "PATH=C:\\two"}));
}

}  // namespace
}  // namespace dmon::plugins::exec
