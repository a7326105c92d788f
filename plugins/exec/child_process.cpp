#include "exec/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace dmon::plugins::exec {
namespace {

// A pipe whose ends close themselves.
struct Pipe {
    int read = -1, write = -1;
    Pipe() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) == 0) {
            read = fds[0];
            write = fds[1];
        }
    }
    ~Pipe() {
        close_read();
        close_write();
    }
    void close_read() {
        if (read >= 0)
            ::close(read);
        read = -1;
    }
    void close_write() {
        if (write >= 0)
            ::close(write);
        write = -1;
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
};

struct SpawnActions {
    posix_spawn_file_actions_t actions;
    SpawnActions() { posix_spawn_file_actions_init(&actions); }
    ~SpawnActions() { posix_spawn_file_actions_destroy(&actions); }
};
struct SpawnAttributes {
    posix_spawnattr_t attributes;
    SpawnAttributes() { posix_spawnattr_init(&attributes); }
    ~SpawnAttributes() { posix_spawnattr_destroy(&attributes); }
};

std::vector<char*> c_strings(const std::vector<std::string>& items) {
    std::vector<char*> out;
    for (const auto& item : items)
        out.push_back(const_cast<char*>(item.c_str()));
    out.push_back(nullptr);
    return out;
}

}  // namespace

std::vector<std::string> minimal_environment() {
    return {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"};
}

std::vector<std::string> host_environment() {
    std::vector<std::string> out;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry)
        out.emplace_back(*entry);
    return out;
}

RunResult run_program(const RunSpec& given) {
    RunResult result;
    const auto started = std::chrono::steady_clock::now();
    RunSpec shell_spec;
    if (!given.shell_command.empty()) {
        shell_spec = given;
        shell_spec.argv = {"/bin/sh", "-c", given.shell_command};
    }
    const RunSpec& spec = given.shell_command.empty() ? given : shell_spec;
    if (spec.argv.empty()) {
        result.start_error = "no command";
        return result;
    }
    Pipe out, err;
    if (out.read < 0 || err.read < 0) {
        result.start_error = std::string("pipe: ") + std::strerror(errno);
        return result;
    }
    SpawnActions files;
    posix_spawn_file_actions_addopen(&files.actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&files.actions, out.write, 1);
    posix_spawn_file_actions_adddup2(&files.actions, err.write, 2);
    if (!spec.working_directory.empty())
        posix_spawn_file_actions_addchdir_np(&files.actions, spec.working_directory.c_str());
    SpawnAttributes attributes;
    // Its own process group, so that a kill reaches whatever it started; default signal
    // dispositions and no blocked signals, whatever the host's threads have.
    sigset_t none, all_default;
    sigemptyset(&none);
    sigfillset(&all_default);
    posix_spawnattr_setflags(&attributes.attributes, POSIX_SPAWN_SETPGROUP |
                                                         POSIX_SPAWN_SETSIGMASK |
                                                         POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attributes.attributes, 0);
    posix_spawnattr_setsigmask(&attributes.attributes, &none);
    posix_spawnattr_setsigdefault(&attributes.attributes, &all_default);
    auto argv = c_strings(spec.argv);
    auto envp = c_strings(spec.environment);
    pid_t pid = -1;
    const int spawned = spec.argv[0].find('/') == std::string::npos
                            ? ::posix_spawnp(&pid, argv[0], &files.actions, &attributes.attributes,
                                             argv.data(), envp.data())
                            : ::posix_spawn(&pid, argv[0], &files.actions, &attributes.attributes,
                                            argv.data(), envp.data());
    if (spawned != 0) {
        result.start_error = spec.argv[0] + ": " + std::strerror(spawned);
        return result;
    }
    result.started = true;
    out.close_write();
    err.close_write();

    const auto deadline = started + spec.timeout;
    // Once it has exited or been killed, its pipes get this long to close: a descendant that
    // left the group (setsid) and kept them open must not hold the collector.
    std::chrono::steady_clock::time_point drain_until{};
    bool exited = false;
    int status = 0;
    const auto kill_group = [&] { ::kill(-pid, SIGKILL); };
    char buffer[16384];
    for (;;) {
        const auto now = std::chrono::steady_clock::now();
        if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) {
            exited = true;
            // What it left running in its group does not outlive it (its pipes would keep this
            // loop waiting, and the next round would start another).
            kill_group();
        }
        if (!exited && !result.timed_out && now >= deadline) {
            result.timed_out = true;
            kill_group();
        }
        if ((exited || result.timed_out) && drain_until == std::chrono::steady_clock::time_point{})
            drain_until = now + std::chrono::seconds(1);
        if (out.read < 0 && err.read < 0) {
            if (exited)
                break;
            if (result.timed_out) {
                ::waitpid(pid, &status, 0);  // killed: it goes at once
                exited = true;
                break;
            }
        }
        if (drain_until != std::chrono::steady_clock::time_point{} && now >= drain_until) {
            out.close_read();
            err.close_read();
            if (!exited) {
                ::waitpid(pid, &status, 0);
                exited = true;
            }
            break;
        }
        pollfd fds[2];
        nfds_t count = 0;
        for (int fd : {out.read, err.read}) {
            if (fd >= 0)
                fds[count++] = pollfd{fd, POLLIN, 0};
        }
        // Short slices: a child that exits while a grandchild keeps its pipes open is noticed.
        const int slice = 50;
        if (count == 0) {
            ::usleep(10000);
            continue;
        }
        if (::poll(fds, count, slice) < 0 && errno != EINTR)
            break;
        for (nfds_t i = 0; i < count; ++i) {
            if (fds[i].revents == 0)
                continue;
            const bool is_out = fds[i].fd == out.read;
            const ssize_t n = ::read(fds[i].fd, buffer, sizeof(buffer));
            if (n <= 0) {
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                    continue;
                (is_out ? out : err).close_read();
                continue;
            }
            if (is_out) {
                if (result.output.size() + static_cast<size_t>(n) > spec.max_output_bytes) {
                    result.output_overflow = true;
                    result.output.clear();
                    out.close_read();
                    kill_group();
                    continue;
                }
                if (!result.output_overflow)
                    result.output.append(buffer, static_cast<size_t>(n));
            } else if (result.errors.size() < spec.max_error_bytes) {
                result.errors.append(buffer, std::min(static_cast<size_t>(n),
                                                      spec.max_error_bytes - result.errors.size()));
            }
        }
    }
    if (!exited)
        ::waitpid(pid, &status, 0);  // never leave a zombie
    if (!result.timed_out) {
        if (WIFEXITED(status))
            result.exit_code = WEXITSTATUS(status);
        else if (WIFSIGNALED(status) && !result.output_overflow)
            result.signal = WTERMSIG(status);
    }
    result.took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    return result;
}

}  // namespace dmon::plugins::exec
