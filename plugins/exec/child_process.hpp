#pragma once
// Runs a program to completion with a deadline: standard output and error read through pipes,
// standard input the null device. POSIX: its own process group, killed whole and always reaped
// (no zombie stays behind). Windows: a job object, terminated whole; a job closes with the run,
// so nothing it started outlives it (child_process_windows.cpp).
#include <chrono>
#include <string>
#include <vector>

namespace dmon::plugins::exec {

struct RunSpec {
    std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no path separator
    // When set, argv is ignored and this runs through the platform's shell: /bin/sh -c COMMAND,
    // or cmd.exe /d /s /c "COMMAND" (cmd's own quoting, which argv quoting would break).
    std::string shell_command;
    std::vector<std::string> environment;  // "KEY=value", the whole environment of the program
    std::string working_directory;         // empty: the host's
    std::chrono::milliseconds timeout{10000};
    size_t max_output_bytes = 1 << 20;  // standard output beyond this: killed, output refused
    size_t max_error_bytes = 64 << 10;  // standard error beyond this is cut (not an error)
};

struct RunResult {
    std::string output;  // standard output (empty when it overflowed)
    std::string errors;  // standard error, cut at max_error_bytes
    bool started = false;
    std::string start_error;  // why it did not start
    bool timed_out = false;
    bool output_overflow = false;
    int exit_code = -1;  // when it exited
    int signal = 0;      // when a signal ended it (other than our kill at the timeout)
    std::chrono::milliseconds took{0};
};

RunResult run_program(const RunSpec& spec);

// What a program gets by default: enough to find and run programs, and nothing of dmon's own
// (which may hold what a probe has no business seeing). POSIX: PATH and LANG=C.UTF-8. Windows:
// PATH, PATHEXT, SystemRoot, SystemDrive, windir, ComSpec, TEMP and TMP from dmon's, without which
// many Windows programs do not start.
std::vector<std::string> minimal_environment();

// dmon's whole environment, as KEY=value entries.
std::vector<std::string> host_environment();

// Sets KEY=value in `environment`, replacing an entry of the same name (case-insensitively on
// Windows, where names are).
void set_variable(std::vector<std::string>& environment, const std::string& entry);

}  // namespace dmon::plugins::exec
