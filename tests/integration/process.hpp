#pragma once
// A child process for integration tests: started through the shell (so a command line can set
// its environment and redirect its output), signalled and reaped by pid.
#include <csignal>
#include <sys/prctl.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace dmon::test {

class Process {
  public:
    explicit Process(const std::string& command) {
        const std::string line = "exec " + command;
        pid_ = ::fork();
        if (pid_ == 0) {
            // If the test process dies (a crash, an abort), its children die with it instead of
            // living on and stealing the next test run's messages.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            ::execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
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
    pid_t pid() const { return pid_; }  // the command's own pid: the shell execs it
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
