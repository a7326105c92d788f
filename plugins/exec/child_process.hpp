#pragma once
// Runs a program to completion with a deadline (POSIX): its own process group, standard output
// and error read through pipes, standard input /dev/null. A program that overruns is killed with
// everything in its group, and always reaped: no zombie stays behind.
#include <chrono>
#include <string>
#include <vector>

namespace dmon::plugins::exec {

struct RunSpec {
    std::vector<std::string> argv;         // argv[0] is looked up in PATH when it has no '/'
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

}  // namespace dmon::plugins::exec
