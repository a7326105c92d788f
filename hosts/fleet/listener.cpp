#include "listener.hpp"

#include "apply_document.hpp"

#include <amqp_common/connection.hpp>
#include <dmon/core/logging.hpp>
#include <dmon/core/text.hpp>
#include <dmon/str.hpp>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#ifndef _WIN32
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#endif

namespace dmon::fleet {

namespace amqp = dmon::plugins::amqp;
using amqp::bytes;

namespace {

// How long a `collect` waits for the collectors it asked (each one's round runs on its strand,
// after a round already running there).
constexpr auto kCollectWait = std::chrono::seconds(60);
#ifdef _WIN32
constexpr long kConsumeWaitUs = 250'000;  // no poll() on a pipe here: the stop check's tick
#else
constexpr long kConsumeWaitUs = 10'000;  // after poll() said there is traffic
#endif

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Writes `text` to `path` so that the file is either the old one or the new one, never half:
// a temporary beside it (same mode as the old file), flushed, then renamed over it.
void write_atomically(const std::string& path, const std::string& text) {
    namespace fs = std::filesystem;
    const fs::path target(path);
    const fs::path temporary = target.string() + ".fleet-apply.tmp";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        out << text;
        out.flush();
        if (!out)
            throw std::runtime_error("cannot write " + temporary.string());
    }
    std::error_code error;
    const auto permissions = fs::status(target, error).permissions();
    if (!error)
        fs::permissions(temporary, permissions, error);
    fs::rename(temporary, target, error);
    if (error) {
        fs::remove(temporary);
        throw std::runtime_error("cannot replace " + path + ": " + error.message());
    }
}

std::string join_errors(const std::vector<std::string>& errors) {
    return core::join(errors, "; ");
}

}  // namespace

FleetListener::FleetListener(core::Host& host, Reloads reloads)
    : host_(host),
      reloads_(std::move(reloads)),
      config_(host.config()->fleet),
      node_(host.node()),
      gate_(config_.admins,
            std::chrono::duration_cast<std::chrono::milliseconds>(config_.max_age)) {}

FleetListener::~FleetListener() {
    stop();
}

void FleetListener::start() {
    if (node_.find_first_of("*#") != std::string::npos) {
        core::logger().error(
            "[fleet] node '{}' holds '*' or '#', which would be wildcards in its routing key: "
            "fleet control is off",
            escape_text(node_));
        return;
    }
#ifndef _WIN32
    if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0)
        throw std::runtime_error(std::string("fleet: cannot make a pipe: ") + std::strerror(errno));
#endif
    thread_ = std::thread([this] { run(); });
}

void FleetListener::stop() {
    stopping_ = true;
#ifndef _WIN32
    if (wake_[1] >= 0) {
        const char byte = 1;
        [[maybe_unused]] const auto written = ::write(wake_[1], &byte, 1);
    }
#endif
    if (thread_.joinable())
        thread_.join();
#ifndef _WIN32
    for (int& fd : wake_) {
        if (fd >= 0)
            ::close(fd);
        fd = -1;
    }
#endif
}

bool FleetListener::wait_for_traffic(amqp_connection_state_t state) {
#ifdef _WIN32
    (void)state;
    return true;  // amqp_consume_message's own wait (kConsumeWaitUs) is the tick
#else
    // Idle, the listener sleeps in poll() on the broker's socket and the stop pipe, waking
    // every 5 s only so that rabbitmq-c sends its heartbeats (every 15 s for 30 s): a 250 ms
    // consume timeout cost each idle agent 4 wake-ups a second (bench/fleet.sh).
    if (amqp_frames_enqueued(state) || amqp_data_in_buffer(state))
        return true;
    pollfd fds[2] = {{amqp_get_sockfd(state), POLLIN, 0}, {wake_[0], POLLIN, 0}};
    const int ready = ::poll(fds, 2, 5000);
    if (ready < 0 && errno != EINTR)
        throw amqp::AmqpError(std::string("waiting for commands: ") + std::strerror(errno));
    return !stopping_;
#endif
}

std::map<std::string, uint64_t> FleetListener::counts() const {
    std::lock_guard lock(counts_mutex_);
    return counts_;
}

void FleetListener::count(const std::string& result) {
    std::lock_guard lock(counts_mutex_);
    ++counts_[result];
}

void FleetListener::log_refusal(const std::string& reason, const std::string& line) {
    auto& said = said_[reason];
    const auto now = std::chrono::steady_clock::now();
    ++said.since;
    if (said.at != std::chrono::steady_clock::time_point{} &&
        now - said.at < std::chrono::minutes(1))
        return;
    core::logger().warn("[fleet] command refused ({}): {}{}", reason, line,
                        said.since > 1 ? " (" + std::to_string(said.since) +
                                             " refused for this reason since the last line; "
                                             "said at most once a minute)"
                                       : std::string());
    said.at = now;
    said.since = 0;
}

void FleetListener::run() {
    amqp::Backoff backoff;
    while (!stopping_) {
        try {
            serve_one_connection();
            backoff.reset();
        } catch (const std::exception& e) {
            const auto wait = backoff.next();
            core::logger().warn("[fleet] {}; trying again in {} ms", e.what(), wait.count());
            const auto until = std::chrono::steady_clock::now() + wait;
            while (!stopping_ && std::chrono::steady_clock::now() < until)
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
}

void FleetListener::serve_one_connection() {
    amqp::ConnectionSettings settings;
    settings.urls = config_.urls;
    settings.password_file = config_.password_file;
    settings.password_env = config_.password_env;
    size_t cursor = 0;
    auto connection = amqp::connect_any(settings, cursor);
    auto* state = connection->state();
    // An agent whose broker user may not configure the exchange (the least privilege of
    // docs/operations.md: it could delete it) takes it as an admin made it.
    amqp_exchange_declare(state, 1, bytes(config_.exchange), bytes("topic"), 0, /*durable*/ 1, 0, 0,
                          amqp_empty_table);
    const amqp_rpc_reply_t declared = amqp_get_rpc_reply(state);
    const bool refused = declared.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
                         declared.reply.id == AMQP_CHANNEL_CLOSE_METHOD &&
                         static_cast<amqp_channel_close_t*>(declared.reply.decoded)->reply_code ==
                             AMQP_ACCESS_REFUSED;
    if (refused) {
        amqp_channel_close_ok_t close_ok{};
        amqp_send_method(state, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
        amqp_channel_open(state, 1);
        connection->check("reopening the channel");
        amqp_exchange_declare(state, 1, bytes(config_.exchange), bytes("topic"), /*passive*/ 1, 1,
                              0, 0, amqp_empty_table);
        connection->check("finding exchange " + config_.exchange +
                          " (this user may not declare it: an admin's `dmonctl fleet` does)");
    } else {
        connection->check("declaring exchange " + config_.exchange);
    }
    // Exclusive: a second host with the same node name is refused here, loudly, instead of
    // sharing (and halving) this one's commands.
    const std::string queue = "dmon.control." + node_;
    amqp_queue_declare(state, 1, bytes(queue), 0, 0, /*exclusive*/ 1, /*auto_delete*/ 1,
                       amqp_empty_table);
    connection->check("declaring queue " + queue + " (is another host running with node name '" +
                      node_ + "'?)");
    std::vector<std::string> keys = {"control.node." + node_, "control.all"};
    for (const auto& group : config_.groups)
        keys.push_back("control.group." + group);
    for (const auto& key : keys) {
        amqp_queue_bind(state, 1, bytes(queue), bytes(config_.exchange), bytes(key),
                        amqp_empty_table);
        connection->check("binding " + queue + " with " + key);
    }
    amqp_basic_qos(state, 1, 0, 4, 0);
    connection->check("setting prefetch");
    amqp_basic_consume(state, 1, bytes(queue), amqp_empty_bytes, 0, /*no_ack*/ 0, 0,
                       amqp_empty_table);
    connection->check("consuming from " + queue);
    core::logger().info("[fleet] listening on {} for {} (groups: {}; admins: {})",
                        connection->where(), core::join(keys, ", "),
                        config_.groups.empty() ? "none" : core::join(config_.groups, ", "),
                        core::join(config_.admins, ", "));

    while (!stopping_) {
        amqp_maybe_release_buffers(state);
        if (!wait_for_traffic(state))
            continue;
        amqp_envelope_t envelope;
        timeval wait{0, kConsumeWaitUs};
        const amqp_rpc_reply_t reply = amqp_consume_message(state, &envelope, &wait, 0);
        if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            reply.library_error == AMQP_STATUS_TIMEOUT)
            continue;
        if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
            connection->abandon();
            throw amqp::AmqpError(connection->where() + ": consuming: " + amqp::describe(reply));
        }
        std::unique_ptr<amqp_envelope_t, void (*)(amqp_envelope_t*)> owned(&envelope,
                                                                           amqp_destroy_envelope);
        const auto& properties = envelope.message.properties;
        const auto property = [&](amqp_flags_t flag, amqp_bytes_t value) {
            return (properties._flags & flag) != 0 ? amqp::text(value) : std::string();
        };
        const std::string user = property(AMQP_BASIC_USER_ID_FLAG, properties.user_id);
        const std::string reply_to = property(AMQP_BASIC_REPLY_TO_FLAG, properties.reply_to);
        const std::string_view body(static_cast<const char*>(envelope.message.body.bytes),
                                    envelope.message.body.len);
        // Acknowledged whatever happens: a command is obeyed at most once, and a refused one
        // must not come back.
        const auto ack = [&] { amqp_basic_ack(state, 1, envelope.delivery_tag, 0); };

        std::string error;
        auto command = parse_command(body, error);
        if (!command) {
            count("malformed");
            log_refusal("malformed", "from user '" + escape_text(user, 64) + "': " + error);
            ack();
            continue;
        }
        const Verdict verdict = gate_.check(*command, user, unix_ms_now());
        if (verdict != Verdict::obey) {
            count(to_string(verdict));
            log_refusal(to_string(verdict), std::string(to_string(command->verb)) + " " +
                                                command->id + " from user '" +
                                                escape_text(user, 64) + "'");
            ack();
            continue;
        }
        if (!command->nodes.empty() && !glob_match(command->nodes, node_)) {
            ack();  // sent to a group or to all, for other nodes: not ours, not a refusal
            continue;
        }
        if (reply_to.empty()) {
            count("malformed");
            log_refusal("malformed",
                        "a command without reply_to from '" + escape_text(user, 64) + "'");
            ack();
            continue;
        }
        core::logger().info("[fleet] {} {} from {}", to_string(command->verb), command->id,
                            escape_text(user, 64));
        Reply answer = execute(*command);
        count(answer.ok ? "obeyed" : "failed");
        const std::string encoded = encode_reply(answer);
        amqp_basic_properties_t out{};
        out._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG;
        out.content_type = amqp_cstring_bytes("application/json");
        out.correlation_id = bytes(command->id);
        const int status = amqp_basic_publish(state, 1, amqp_empty_bytes, bytes(reply_to), 0, 0,
                                              &out, bytes(encoded));
        if (status != AMQP_STATUS_OK) {
            connection->abandon();
            throw amqp::AmqpError(connection->where() + ": answering " + command->id + ": " +
                                  amqp_error_string2(status));
        }
        ack();
    }
}

Reply FleetListener::execute(const Command& command) {
    Reply reply;
    reply.id = command.id;
    reply.node = node_;
    reply.groups = config_.groups;
    switch (command.verb) {
        case Verb::ping:
            reply.ok = true;
            reply.detail = "pong";
            break;
        case Verb::status: {
            reply.ok = true;
            reply.health = host_.health_text();
            while (!reply.health.empty() && reply.health.back() == '\n')
                reply.health.pop_back();
            for (const auto& runner : host_.collectors()) {
                const auto& stats = *runner->stats();
                reply.instances.push_back(
                    {runner->name(), "collector", runner->instance()->config().plugin,
                     stats.backing_off ? "backing off" : "running", stats.samples.load(),
                     stats.errors.load(), 0, 0, 0, stats.last_error()});
            }
            for (const auto& runner : host_.sinks()) {
                const auto& stats = *runner->stats();
                reply.instances.push_back(
                    {runner->name(), "sink", runner->instance()->config().plugin,
                     stats.connected ? "running" : "failing", stats.samples.load(),
                     stats.errors.load(), stats.queue_depth.load(), stats.spooled_samples.load(),
                     stats.dropped.load(), stats.last_error()});
            }
            reply.detail = reply.health;
            break;
        }
        case Verb::reload: {
            const auto outcome = reloads_.from_file();
            reply.ok = outcome.ok;
            reply.error = join_errors(outcome.errors);
            reply.detail = outcome.summary();
            break;
        }
        case Verb::apply: {
            if (!config_.accept_config) {
                reply.error =
                    "this host does not accept configs from the fleet (fleet.accept_config is "
                    "false)";
                break;
            }
            const std::string file = host_.config()->file;
            std::string error;
            const std::string text = compose_applied_config(command.config, read_file(file), error);
            if (text.empty()) {
                reply.error = error;
                break;
            }
            core::HostConfig next;
            try {
                next = core::parse_config(text, file);
            } catch (const core::ConfigError& e) {
                reply.error = join_errors(e.messages());
                break;
            }
            if (!(next.fleet == host_.config()->fleet)) {
                reply.error = "the fleet section of the file would change: refused";
                break;
            }
            const auto outcome = reloads_.with_config(std::move(next));
            reply.ok = outcome.ok;
            reply.error = join_errors(outcome.errors);
            reply.detail = outcome.summary();
            if (outcome.ok) {
                // Written only now that it runs: a restart starts what runs, not the old file.
                try {
                    write_atomically(file, text);
                } catch (const std::exception& e) {
                    reply.ok = false;
                    reply.error = std::string(
                                      "applied, but not written (a restart would bring "
                                      "back the old config): ") +
                                  e.what();
                }
            }
            break;
        }
        case Verb::collect: {
            std::vector<std::shared_ptr<core::CollectorRunner>> chosen;
            const auto runners = host_.collectors();
            if (command.collectors.empty()) {
                chosen = runners;
            } else {
                std::vector<std::string> unknown;
                for (const auto& name : command.collectors) {
                    const auto found =
                        std::find_if(runners.begin(), runners.end(),
                                     [&](const auto& runner) { return runner->name() == name; });
                    if (found == runners.end())
                        unknown.push_back(escape_text(name, 64));
                    else
                        chosen.push_back(*found);
                }
                if (!unknown.empty()) {
                    reply.error = "no collector named " + core::join(unknown, ", ") +
                                  " (nothing was collected)";
                    break;
                }
            }
            struct Progress {
                std::mutex mutex;
                std::condition_variable done;
                size_t left = 0, samples = 0;
                std::vector<std::string> errors;
            };
            auto progress = std::make_shared<Progress>();
            progress->left = chosen.size();
            for (const auto& runner : chosen) {
                runner->collect_now(
                    [progress, name = runner->name()](size_t samples, std::string error) {
                        std::lock_guard lock(progress->mutex);
                        progress->samples += samples;
                        if (!error.empty())
                            progress->errors.push_back(name + ": " + error);
                        if (--progress->left == 0)
                            progress->done.notify_all();
                    });
            }
            std::unique_lock lock(progress->mutex);
            const bool finished =
                progress->done.wait_for(lock, kCollectWait, [&] { return progress->left == 0; });
            reply.ok = finished && progress->errors.empty();
            reply.error = finished ? join_errors(progress->errors)
                                   : std::to_string(progress->left) +
                                         " collector(s) had not finished after 60 s";
            reply.detail = std::to_string(progress->samples) + " samples from " +
                           std::to_string(chosen.size() - progress->left) + " collector(s)";
            break;
        }
    }
    reply.generation = host_.generation();
    return reply;
}

}  // namespace dmon::fleet
