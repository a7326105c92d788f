#pragma once
// A child process for integration tests: started through the shell (so a command line can set
// its environment and redirect its output), signalled and reaped by pid.
#include <csignal>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace dmon::test {

class Process {
  public:
    explicit Process(const std::string& command) {
        const std::string line = "exec " + command;
        const char* argv[] = {"/bin/sh", "-c", line.c_str(), nullptr};
        if (posix_spawn(&pid_, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0)
            pid_ = -1;
    }
    ~Process() {
        if (pid_ > 0 && running()) {
            signal(SIGKILL);
            wait();
        }
    }
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    bool started() const { return pid_ > 0; }
    void signal(int sig) const {
        if (pid_ > 0)
            ::kill(pid_, sig);
    }
    bool running() {
        if (exited_)
            return false;
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            exited_ = true;
            exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        return !exited_;
    }
    int wait() {
        if (!exited_) {
            int status = 0;
            ::waitpid(pid_, &status, 0);
            exited_ = true;
            exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        return exit_code_;
    }
    // SIGTERM, then the exit code (dmon flushes its sinks before exiting).
    int stop() {
        signal(SIGTERM);
        return wait();
    }

  private:
    pid_t pid_ = -1;
    bool exited_ = false;
    int exit_code_ = -1;
};

}  // namespace dmon::test
