#include "dmon/core/isolation.hpp"

#include <dmon/str.hpp>

#include "dmon/core/logging.hpp"
#include "dmon/core/plugin_call.hpp"
#include "dmon/core/sealed_batch.hpp"
#include "dmon/core/text.hpp"

#include <spdlog/sinks/base_sink.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#ifndef _WIN32
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
extern char** environ;
#endif

namespace dmon::core {

#ifdef _WIN32

int run_plugin_worker(int) {
    std::fputs("dmon worker: isolation is not available on Windows yet\n", stderr);
    return 2;
}
void set_worker_program(std::string) {}
IsolatedPlugin::IsolatedPlugin(const PluginLibrary&, const InstanceConfig& config, const OptionSet&,
                               const std::string&, bool, std::shared_ptr<InstanceStats> stats)
    : config_(config), stats_(std::move(stats)) {}
IsolatedPlugin::~IsolatedPlugin() = default;
void IsolatedPlugin::start() {
    throw PluginLoadError(config_.location.to_string() + ": " + config_.describe() +
                          ": isolate: true is not available on Windows yet");
}
dmon_status IsolatedPlugin::collect(dmon_emitter&, std::string& error) {
    error = "isolation is not available on Windows";
    return DMON_ERROR;
}
dmon_status IsolatedPlugin::write(const dmon_batch&, std::string& error) {
    error = "isolation is not available on Windows";
    return DMON_ERROR;
}
dmon_status IsolatedPlugin::flush(std::string& error) {
    error = "isolation is not available on Windows";
    return DMON_ERROR;
}

#else

namespace {

using Clock = std::chrono::steady_clock;
using worker::FrameType;

// Writes all of `data`, or fails: the peer is gone. MSG_NOSIGNAL: a dead peer is an error
// here, not a SIGPIPE that ends the process.
bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent <= 0)
            return false;
        data.remove_prefix(static_cast<size_t>(sent));
    }
    return true;
}

// ---- the worker's side ----------------------------------------------------------------------

// Frames to the host: from the main loop and from log calls on a plugin's own threads.
class HostLink {
  public:
    explicit HostLink(int fd) : fd_(fd) {}
    bool send(FrameType type, const std::string& payload) {
        const std::string frame = worker::encode_frame(type, payload);
        std::lock_guard lock(mutex_);
        return send_all(fd_, frame);
    }
    int fd() const { return fd_; }

  private:
    int fd_;
    std::mutex mutex_;
};

// The worker's log lines go to the host, which writes them where its own go.
class HostLogSink : public spdlog::sinks::base_sink<std::mutex> {
  public:
    explicit HostLogSink(HostLink& link) : link_(link) {}

  protected:
    void sink_it_(const spdlog::details::log_msg& message) override {
        worker::LogLine line{static_cast<int>(message.level),
                             std::string(message.payload.data(), message.payload.size())};
        link_.send(FrameType::log, worker::encode_log(line));
    }
    void flush_() override {}

  private:
    HostLink& link_;
};

class Worker {
  public:
    explicit Worker(int fd) : link_(fd) {}

    int run() {
        set_log_sink(std::make_shared<HostLogSink>(link_));
        std::string buffer(1 << 16, '\0');
        for (;;) {
            const ssize_t got = ::read(link_.fd(), buffer.data(), buffer.size());
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                return finish(0);  // the host is gone: nobody to serve
            reader_.feed(buffer.data(), static_cast<size_t>(got));
            while (auto frame = reader_.next()) {
                if (!handle(*frame))
                    return finish(0);
            }
            if (!reader_.error().empty()) {
                std::fprintf(stderr, "dmon worker: the host sent %s\n", reader_.error().c_str());
                return finish(3);
            }
        }
    }

  private:
    int finish(int status) {
        // Owed completions first, as a runner does when it goes: the plugin frees their state.
        for (const auto& [token, owed] : owed_) {
            PluginCallScope scope(description_, "completion");
            owed.first(owed.second, DMON_ERROR);
        }
        owed_.clear();
        instance_.reset();
        return status;
    }

    bool reply(worker::Reply reply) {
        if (instance_) {
            for (const auto& [name, total] : instance_->stats()->plugin_counters()) {
                uint64_t& sent = counters_sent_[name];
                if (total > sent)
                    reply.counters.emplace_back(name, total - sent);
                sent = total;
            }
        }
        return link_.send(FrameType::reply, worker::encode_reply(reply));
    }

    bool refuse(const std::string& why) {
        worker::Reply answer;
        answer.status = DMON_INVALID;
        answer.error = why;
        return reply(std::move(answer));
    }

    bool handle(const worker::Frame& frame) {
        switch (frame.type) {
            case FrameType::create:
                return create(frame.payload);
            case FrameType::collect:
                return collect(frame.payload);
            case FrameType::write:
                return write(frame.payload);
            case FrameType::flush: {
                if (!instance_)
                    return refuse("flush before create");
                worker::Reply answer;
                answer.status = instance_->flush(answer.error);
                return reply(std::move(answer));
            }
            case FrameType::complete: {
                const auto done = worker::decode_complete(frame.payload);
                if (!done)
                    return false;
                if (auto it = owed_.find(done->first); it != owed_.end()) {
                    const auto owed = it->second;
                    owed_.erase(it);
                    PluginCallScope scope(description_, "completion");
                    owed.first(owed.second, done->second ? DMON_OK : DMON_ERROR);
                }
                return true;
            }
            case FrameType::stop:
                return false;
            case FrameType::log:
            case FrameType::reply:
                break;
        }
        return false;  // a frame only a worker sends: the host is not speaking this protocol
    }

    bool create(const std::string& payload) {
        auto request = worker::decode_create(payload);
        if (!request || instance_)
            return refuse("a create request the worker cannot read");
        set_log_level(request->log_level);
        node_ = request->node;
        InstanceConfig config;
        config.kind = request->kind;
        config.name = request->instance_name;
        config.isolate = false;  // in here it runs in process: this is the isolation
        const std::filesystem::path path(request->plugin_path);
        config.plugin = path.stem().string();
        config.location.file = request->location;
        description_ = config.describe() + " (plugin " + config.plugin + ", isolated)";
        try {
            PluginCatalog catalog({path.parent_path().string()});
            auto library = catalog.load(config.plugin);
            instance_ = std::make_unique<PluginInstance>(library, config, request->options, node_,
                                                         request->check_only);
        } catch (const std::exception& error) {
            // The location is the host's to add: it prefixes what the worker says.
            std::string why = error.what();
            const std::string prefix =
                config.location.to_string() + ": " + config.describe() + ": create failed: ";
            if (why.rfind(prefix, 0) == 0)
                why = why.substr(prefix.size());
            return refuse(why);
        }
        return reply({});
    }

    bool collect(const std::string& payload) {
        const auto at = worker::decode_collect(payload);
        if (!at || !instance_)
            return refuse("a collect request the worker cannot read");
        dmon_emitter emitter;
        emitter.node = node_;
        emitter.source = instance_->name();
        emitter.collected_at_ns = *at;
        std::vector<uint64_t> bound;
        emitter.bind_completion = [this, &bound](dmon_completion_fn done, void* user) {
            const uint64_t token = next_token_++;
            owed_.emplace(token, std::make_pair(done, user));
            bound.push_back(token);
            return std::function<void(bool)>();  // the host's answer comes as a frame
        };
        worker::Reply answer;
        answer.status = instance_->collect(emitter, answer.error);
        answer.refused = emitter.refused;
        SealedBatch emitted;
        size_t next_bound = 0;
        for (auto& batch : emitter.batches) {
            answer.tokens.push_back(
                batch->token() && next_bound < bound.size() ? bound[next_bound++] : 0);
            emitted.add(std::move(batch));
        }
        answer.batches = encode_sealed_batch(emitted);
        return reply(std::move(answer));
    }

    bool write(const std::string& payload) {
        if (!instance_)
            return refuse("write before create");
        const auto batch = decode_sealed_batch(payload);
        if (!batch)
            return refuse("a batch the worker cannot decode (a host bug)");
        worker::Reply answer;
        answer.status = instance_->write(view_.view(*batch), answer.error);
        return reply(std::move(answer));
    }

    HostLink link_;
    worker::FrameReader reader_;
    std::unique_ptr<PluginInstance> instance_;
    std::string node_;
    std::string description_;
    CBatchView view_;
    uint64_t next_token_ = 1;
    std::map<uint64_t, std::pair<dmon_completion_fn, void*> > owed_;
    std::map<std::string, uint64_t> counters_sent_;
};

// A worker whose host died without a word (SIGKILL, OOM killer) leaves: even while its plugin
// hangs in a call, so no orphan keeps a broker connection or a file open.
void leave_when_orphaned() {
    const pid_t parent = ::getppid();
    std::thread([parent] {
        while (::getppid() == parent)
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
        ::_exit(0);
    }).detach();
}

// ---- the host's side ------------------------------------------------------------------------

std::string& worker_program() {
    static std::string program = "/proc/self/exe";
    return program;
}

uint64_t resident_bytes(int pid) {
    char path[64];
    std::snprintf(path, sizeof(path), "/proc/%d/statm", pid);
    std::FILE* file = std::fopen(path, "r");
    if (file == nullptr)
        return 0;
    unsigned long long size = 0, resident = 0;
    const int read = std::fscanf(file, "%llu %llu", &size, &resident);
    std::fclose(file);
    return read == 2 ? resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

std::chrono::milliseconds restart_backoff(int crashes_in_a_row) {
    // 100 ms, 200 ms, 400 ms, ... 30 s: a worker that dies at once is not restarted in a loop.
    const int doublings = std::clamp(crashes_in_a_row - 1, 0, 9);
    return std::min(std::chrono::milliseconds(100) * (int64_t{1} << doublings),
                    std::chrono::milliseconds(30000));
}

constexpr size_t kLogLinesPerCall = 200;
constexpr auto kForgiveAfter = std::chrono::seconds(10);
constexpr auto kMemoryCheckEvery = std::chrono::milliseconds(20);
constexpr auto kCreateAllowance = std::chrono::seconds(10);

}  // namespace

int run_plugin_worker(int fd) {
    install_crash_reporter();
    set_crash_consequence(": the worker stops with it; the host lives on and restarts it\n");
    std::signal(SIGPIPE, SIG_IGN);
    leave_when_orphaned();
    Worker worker(fd);
    return worker.run();
}

void set_worker_program(std::string path) {
    worker_program() = std::move(path);
}

// A completion the host owes an isolated collector's worker, for a batch it emitted.
struct RemoteTicket {
    std::weak_ptr<IsolatedPlugin> owner;
    uint64_t generation;
    uint64_t token;
};

void remote_completion(void* ticket, dmon_status status) {
    std::unique_ptr<RemoteTicket> owned(static_cast<RemoteTicket*>(ticket));
    if (auto owner = owned->owner.lock())
        owner->complete(owned->generation, owned->token, status == DMON_OK);
}

IsolatedPlugin::IsolatedPlugin(const PluginLibrary& library, const InstanceConfig& config,
                               const OptionSet& options, const std::string& node, bool check_only,
                               std::shared_ptr<InstanceStats> stats)
    : plugin_path_(library.path()),
      description_(config.describe() + " (plugin " + library.name() + ", isolated)"),
      config_(config),
      stats_(std::move(stats)) {
    create_.kind = config.kind;
    create_.check_only = check_only;
    create_.plugin_path = library.path();
    create_.instance_name = config.name;
    create_.node = node;
    create_.location = config.location.to_string();
    create_.log_level = std::string(spdlog::level::to_string_view(logger().level()).data(),
                                    spdlog::level::to_string_view(logger().level()).size());
    create_.options = options;
}

void IsolatedPlugin::start() {
    const std::string where = config_.location.to_string() + ": " + config_.describe() + ": ";
    if (plugin_path_.rfind("built-in:", 0) == 0)
        throw PluginLoadError(where + "isolate: true needs a plugin file; this one is built in");
    std::string error;
    if (!ensure_running(error))
        throw PluginLoadError(where + "create failed: " + error);
}

IsolatedPlugin::~IsolatedPlugin() {
    stop_worker();
}

bool IsolatedPlugin::send(FrameType type, const std::string& payload) {
    return fd_ >= 0 && send_all(fd_, worker::encode_frame(type, payload));
}

bool IsolatedPlugin::spawn(std::string& error) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        error = std::string("cannot make the worker's socket: ") + std::strerror(errno);
        return false;
    }
    // The worker finds its end at fd 3; dup2 onto 3 clears close-on-exec, which a descriptor
    // already numbered 3 would keep, so move it out of the way first.
    if (pair[1] == 3) {
        const int moved = ::fcntl(pair[1], F_DUPFD_CLOEXEC, 10);
        ::close(pair[1]);
        pair[1] = moved;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pair[1], 3);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    // Nothing else of the host's: a descriptor some plugin opened without close-on-exec (a
    // broker socket, a database file) would otherwise live on in the worker, and a connection
    // the host closes would stay open until the worker ends.
    posix_spawn_file_actions_addclosefrom_np(&actions, 4);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int signal : {SIGPIPE, SIGTERM, SIGHUP, SIGCHLD})
        sigaddset(&defaults, signal);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    // Its own process group: Ctrl-C at a terminal stops the host, which stops its workers in
    // order (a sink's worker still has to answer the last write).
    posix_spawnattr_setpgroup(&attributes, 0);
    posix_spawnattr_setflags(
        &attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    std::string program = worker_program();
    char worker_word[] = "worker";
    char* argv[] = {program.data(), worker_word, nullptr};
    pid_t pid = -1;
    const int failed = ::posix_spawn(&pid, program.c_str(), &actions, &attributes, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    ::close(pair[1]);
    if (failed != 0) {
        ::close(pair[0]);
        error = "cannot start the worker " + program + ": " + std::strerror(failed);
        return false;
    }
    pid_ = pid;
    fd_ = pair[0];
    started_at_ = Clock::now();
    reader_ = worker::FrameReader();
    ++generation_;
    return true;
}

bool IsolatedPlugin::ensure_running(std::string& error) {
    if (running())
        return true;
    auto now = Clock::now();
    if (restart_not_before_ - now <= std::chrono::milliseconds(250)) {
        // Due about now: wait for it rather than fail a call the runner would retry anyway.
        std::this_thread::sleep_until(restart_not_before_);
        now = Clock::now();
    }
    if (now < restart_not_before_) {
        error = "the isolated worker restarts in " +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::milliseconds>(restart_not_before_ - now)
                        .count()) +
                " ms (after " + std::to_string(crashes_in_a_row_) + " failure(s) in a row)";
        return false;
    }
    if (!spawn(error))
        return false;
    auto answer = [&]() -> std::optional<worker::Reply> {
        if (!send(FrameType::create, worker::encode_create(create_))) {
            lost("exit", "went away before it was asked to create the instance", "create", error);
            return std::nullopt;
        }
        return await_reply("create", error);
    }();
    if (!answer)
        return false;
    if (answer->status != DMON_OK) {
        error = answer->error.empty() ? "create failed without saying why" : answer->error;
        stop_worker();
        ++crashes_in_a_row_;
        restart_not_before_ = Clock::now() + restart_backoff(crashes_in_a_row_);
        return false;
    }
    if (generation_ > 1) {
        logger().info("[{}] isolated worker started again (pid {})", config_.name, pid_);
    }
    return true;
}

void IsolatedPlugin::log_from_worker(const std::string& payload) {
    const auto line = worker::decode_log(payload);
    if (!line)
        return;
    if (++log_lines_this_call_ > kLogLinesPerCall) {
        if (log_lines_this_call_ == kLogLinesPerCall + 1) {
            logger().warn(
                "[{}] the worker logs more than {} lines in one call; the rest of "
                "this call's are left out",
                config_.name, kLogLinesPerCall);
        }
        return;
    }
    // Its own words, already "[instance] ..." from the worker's logger; escaped again here,
    // because the worker runs third-party code and the log is the operator's terminal.
    logger().log(static_cast<spdlog::level::level_enum>(line->level), "{}",
                 escape_text(line->text, 4096));
}

void IsolatedPlugin::apply_counters(const worker::Reply& reply) {
    for (const auto& [name, delta] : reply.counters)
        stats_->add_to_counter(name, delta);
}

std::optional<worker::Reply> IsolatedPlugin::await_reply(const char* what, std::string& error) {
    // Starting a worker (exec, the dynamic loader, the plugin's library) is not the plugin's
    // call: create gets at least kCreateAllowance, however short `deadline` is.
    const bool creating = std::strcmp(what, "create") == 0;
    const auto allowed =
        creating ? std::max<std::chrono::nanoseconds>(config_.deadline, kCreateAllowance)
                 : config_.deadline;
    const auto deadline = Clock::now() + allowed;
    log_lines_this_call_ = 0;
    std::string& buffer = read_buffer_;
    buffer.resize(1 << 16);  // once: zeroing 64 KiB a call cost more than the round trip
    for (;;) {
        while (auto frame = reader_.next()) {
            if (frame->type == FrameType::log) {
                log_from_worker(frame->payload);
                continue;
            }
            if (frame->type != FrameType::reply) {
                lost("protocol", "sent a frame only the host sends", what, error);
                return std::nullopt;
            }
            auto reply = worker::decode_reply(frame->payload);
            if (!reply) {
                lost("protocol", "sent a reply that does not decode", what, error);
                return std::nullopt;
            }
            apply_counters(*reply);
            return reply;
        }
        if (!reader_.error().empty()) {
            lost("protocol", "sent " + reader_.error(), what, error);
            return std::nullopt;
        }
        // Memory is looked at every 20 ms of a long call, and once a second otherwise (a
        // look costs about as much as a short call's whole round trip).
        if (config_.memory_limit > 0 && Clock::now() - last_memory_check_ >= kMemoryCheckEvery) {
            last_memory_check_ = Clock::now();
            const uint64_t resident = resident_bytes(pid_);
            if (resident > config_.memory_limit) {
                lost("memory_limit",
                     "grew to " + format_bytes(static_cast<double>(resident)) +
                         " of resident memory, over its memory_limit of " +
                         format_bytes(static_cast<double>(config_.memory_limit)),
                     what, error);
                return std::nullopt;
            }
        }
        const auto now = Clock::now();
        if (now >= deadline) {
            lost("deadline",
                 "did not return within its deadline of " +
                     std::to_string(
                         std::chrono::duration_cast<std::chrono::milliseconds>(config_.deadline)
                             .count()) +
                     " ms",
                 what, error);
            return std::nullopt;
        }
        // Wake at least every 20 ms to look at the worker's memory and the deadline.
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
        pollfd watched{fd_, POLLIN, 0};
        const int ready =
            ::poll(&watched, 1, static_cast<int>(std::clamp<int64_t>(left.count() + 1, 1, 20)));
        if (ready < 0 && errno != EINTR) {
            lost("protocol", std::string("cannot be read from: ") + std::strerror(errno), what,
                 error);
            return std::nullopt;
        }
        if (ready <= 0)
            continue;
        const ssize_t got = ::read(fd_, buffer.data(), buffer.size());
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got <= 0) {
            // Gone: reap it to say how. lost() fills in the signal or the exit status.
            lost(nullptr, "", what, error);
            return std::nullopt;
        }
        reader_.feed(buffer.data(), static_cast<size_t>(got));
    }
}

void IsolatedPlugin::reap(bool kill_first, std::string* how_it_ended) {
    if (pid_ <= 0)
        return;
    if (kill_first)
        ::kill(pid_, SIGKILL);
    int status = 0;
    // A worker whose socket closed is on its way out; one that closed it and lingers (a plugin
    // that closed descriptors it did not own) is helped after a second.
    pid_t reaped = 0;
    for (int waited = 0; (reaped = ::waitpid(pid_, &status, WNOHANG)) == 0; ++waited) {
        if (waited == 100)
            ::kill(pid_, SIGKILL);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (how_it_ended != nullptr && reaped == pid_) {
        if (WIFSIGNALED(status)) {
            *how_it_ended = std::string("was killed by ") + describe_signal(WTERMSIG(status));
        } else if (WIFEXITED(status)) {
            *how_it_ended = "exited with status " + std::to_string(WEXITSTATUS(status));
        }
    }
    pid_ = -1;
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}

void IsolatedPlugin::lost(const char* reason, const std::string& what_happened, const char* call,
                          std::string& error) {
    const int pid = pid_;
    std::string how = what_happened;
    std::string ended;
    reap(reason != nullptr, &ended);
    if (reason == nullptr) {
        // It ended on its own: the signal (a crash, an abort) or an exit is the reason.
        reason = ended.rfind("was killed", 0) == 0 ? "signal" : "exit";
        how = ended.empty() ? std::string("went away") : ended;
    }
    ++crashes_in_a_row_;
    const auto backoff = restart_backoff(crashes_in_a_row_);
    restart_not_before_ = Clock::now() + backoff;
    stats_->add_to_counter(std::string("crashes{reason=") + reason + "}", 1);
    error = std::string("the isolated worker (pid ") + std::to_string(pid) + ") " + how + " in " +
            call + "()";
    logger().error(
        "[{}] {}; the host goes on, the worker starts again in {} ms "
        "(dmon.plugin.crashes{{reason={}}})",
        config_.name, error, backoff.count(), reason);
}

void IsolatedPlugin::stop_worker() {
    if (!running())
        return;
    if (send(FrameType::stop, {})) {
        // Give it up to two seconds to destroy the instance (a sink closes its connection),
        // showing what it logs on the way.
        const auto until = Clock::now() + std::chrono::seconds(2);
        std::string& buffer = read_buffer_;
        buffer.resize(1 << 16);
        log_lines_this_call_ = 0;
        while (Clock::now() < until) {
            pollfd watched{fd_, POLLIN, 0};
            if (::poll(&watched, 1, 20) <= 0)
                continue;
            const ssize_t got = ::read(fd_, buffer.data(), buffer.size());
            if (got <= 0)
                break;
            reader_.feed(buffer.data(), static_cast<size_t>(got));
            while (auto frame = reader_.next()) {
                if (frame->type == FrameType::log)
                    log_from_worker(frame->payload);
            }
        }
    }
    reap(false, nullptr);
}

std::optional<worker::Reply> IsolatedPlugin::call(FrameType type, const std::string& payload,
                                                  const char* what, std::string& error) {
    if (!ensure_running(error))
        return std::nullopt;
    if (!send(type, payload)) {
        lost(nullptr, "", what, error);
        return std::nullopt;
    }
    auto reply = await_reply(what, error);
    // The back-off is forgiven once a worker has lived a while: one that answers a call or two
    // and then dies again each time must not be restarted at full speed for ever.
    if (reply && Clock::now() - started_at_ >= kForgiveAfter)
        crashes_in_a_row_ = 0;
    return reply;
}

dmon_status IsolatedPlugin::collect(dmon_emitter& emitter, std::string& error) {
    auto reply =
        call(FrameType::collect, worker::encode_collect(emitter.collected_at_ns), "collect", error);
    if (!reply)
        return DMON_ERROR;
    auto emitted = decode_sealed_batch(reply->batches);
    if (!emitted || emitted->parts.size() != reply->tokens.size()) {
        lost("protocol", "sent samples that do not decode", "collect", error);
        return DMON_ERROR;
    }
    emitter.refused.malformed += reply->refused.malformed;
    emitter.refused.not_finite += reply->refused.not_finite;
    emitter.refused.sample_size += reply->refused.sample_size;
    if (reply->refused.sample_size > 0)
        emitter.refused.given_sample_size = reply->refused.given_sample_size;
    if (emitter.refused.example.empty())
        emitter.refused.example = escape_text(reply->refused.example, 400);
    for (size_t i = 0; i < emitted->parts.size(); ++i) {
        auto part = std::const_pointer_cast<SampleBatch>(emitted->parts[i]);
        if (reply->tokens[i] != 0 && emitter.bind_completion) {
            auto* ticket = new RemoteTicket{weak_from_this(), generation_, reply->tokens[i]};
            part->set_token(std::make_shared<CompletionToken>(
                emitter.bind_completion(&remote_completion, ticket)));
        }
        emitter.batches.push_back(std::move(part));
    }
    if (reply->status != DMON_OK)
        error = reply->error.empty() ? "collect failed without saying why" : reply->error;
    return reply->status;
}

dmon_status IsolatedPlugin::write(const dmon_batch& batch, std::string& error) {
    auto reply = call(FrameType::write, encode_c_batch(batch), "write", error);
    if (!reply)
        return DMON_ERROR;  // the sink runner keeps the batch and writes it again
    if (reply->status != DMON_OK)
        error = reply->error.empty() ? "write failed without saying why" : reply->error;
    return reply->status;
}

dmon_status IsolatedPlugin::flush(std::string& error) {
    auto reply = call(FrameType::flush, {}, "flush", error);
    if (!reply)
        return DMON_ERROR;
    if (reply->status != DMON_OK)
        error = reply->error.empty() ? "flush failed without saying why" : reply->error;
    return reply->status;
}

void IsolatedPlugin::complete(uint64_t generation, uint64_t token, bool ok) {
    // A worker that restarted since lost the plugin's state for this token: nobody to tell.
    if (generation == generation_ && running())
        send(FrameType::complete, worker::encode_complete(token, ok));
}

#endif

}  // namespace dmon::core
