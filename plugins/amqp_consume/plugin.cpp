// amqp_consume: a collector fed by the broker. Declares its durable queue (bound to the
// exchange, length-limited, with a dead-letter exchange and queue), consumes line protocol,
// and acknowledges a message only when every sink has durably written its samples. Every
// message is hostile until admitted (admission.hpp): one that breaks a limit or speaks for a
// host its sender may not write goes whole to the dead-letter queue with the reason in a
// header, is counted per reason, and is logged at most once a second per reason.
#include "amqp_common/options.hpp"
#include "amqp_common/publisher.hpp"
#include "amqp_consume/admission.hpp"

#include <dmon/line_protocol.hpp>

#include <amqp_framing.h>

#include <chrono>
#include <map>
#include <memory>

namespace dmon::plugins::amqp {

constexpr dmon_option_decl kOptions[] = {
    DMON_AMQP_CONNECTION_OPTIONS,
    sdk::option("queue", DMON_OPT_STRING, "dmon.controller",
                "the durable queue this controller consumes"),
    sdk::option("queue_type", DMON_OPT_STRING, "classic",
                "classic, or quorum: replicated over a cluster's nodes, what several "
                "controllers on a RabbitMQ cluster should use (docs/scaling.md)"),
    sdk::option("binding_key", DMON_OPT_STRING, "metrics.#",
                "which routing keys the queue receives"),
    sdk::option("prefetch", DMON_OPT_INT, "1000", "messages in flight (unacknowledged) at most"),
    sdk::option("collect_time", DMON_OPT_DURATION, "200ms",
                "longest one collect() reads messages for"),
    // What a message may be (docs/operations.md, "Security"): refused whole past any of these.
    sdk::option("max_message_bytes", DMON_OPT_INT, "1048576", "largest message body"),
    sdk::option("max_line_bytes", DMON_OPT_INT, "65536", "longest line"),
    sdk::option("max_labels", DMON_OPT_INT, "32", "tags (labels) of one line"),
    sdk::option("max_fields", DMON_OPT_INT, "64", "fields of one line"),
    sdk::option("max_name_bytes", DMON_OPT_INT, "256", "longest sample name or label key"),
    sdk::option("max_label_bytes", DMON_OPT_INT, "1024", "longest label value"),
    sdk::option("max_expansion", DMON_OPT_INT, "16",
                "the samples of a message may take this many times its size"),
    sdk::option("max_age", DMON_OPT_DURATION, "7d",
                "samples older than this are refused (0: no bound)"),
    sdk::option("max_future", DMON_OPT_DURATION, "10m",
                "samples further ahead of this controller's clock are refused"),
    sdk::option("host_from", DMON_OPT_STRING, "routing_key",
                "routing_key: the host is the node of metrics.<node>.<instance>; label: trust "
                "the body's host label (only for a broker no one else can publish to)"),
    sdk::option("senders", DMON_OPT_STRING_LIST, nullptr,
                "AMQP users and the hosts each may write: 'user=glob[,glob]'; set, every "
                "message needs a user_id among them"),
    sdk::option("queue_max_bytes", DMON_OPT_INT, "1073741824",
                "the queue holds at most this many bytes; past it the broker refuses publishes "
                "(agents keep them in their spool); 0: no limit"),
    sdk::option("dead_letter_max_bytes", DMON_OPT_INT, "104857600",
                "the dead-letter queue keeps the newest this many bytes; 0: no limit"),
};

AdmissionSettings admission_settings(const sdk::Options& options) {
    AdmissionSettings settings;
    auto positive = [&](const char* name) {
        const int64_t value = options.integer_value(name);
        if (value <= 0)
            throw sdk::InvalidInput(std::string(name) + " must be positive");
        return static_cast<size_t>(value);
    };
    settings.limits.max_message_bytes = positive("max_message_bytes");
    settings.limits.max_line_bytes = positive("max_line_bytes");
    settings.limits.max_labels = positive("max_labels");
    settings.limits.max_fields = positive("max_fields");
    settings.limits.max_name_bytes = positive("max_name_bytes");
    settings.limits.max_label_key_bytes = settings.limits.max_name_bytes;
    settings.limits.max_label_value_bytes = positive("max_label_bytes");
    settings.limits.max_expansion = positive("max_expansion");
    settings.max_age_ns = options.duration_value_ns("max_age");
    settings.max_future_ns = options.duration_value_ns("max_future");
    const std::string host_from = options.string_value("host_from");
    if (host_from != "routing_key" && host_from != "label")
        throw sdk::InvalidInput("host_from must be routing_key or label, not '" + host_from + "'");
    settings.host_from_routing_key = host_from == "routing_key";
    for (const auto& rule : options.list("senders")) {
        try {
            settings.senders.push_back(parse_sender_rule(rule));
        } catch (const std::invalid_argument& e) {
            throw sdk::InvalidInput(std::string("senders: ") + e.what());
        }
    }
    return settings;
}

// At most one log line per reason per interval; what it held back is told on the next one.
class ReasonThrottle {
  public:
    explicit ReasonThrottle(std::chrono::steady_clock::duration interval) : interval_(interval) {}
    // Returns false to stay silent; else true and how many were held back since the last line.
    bool allow(const std::string& reason, uint64_t& held_back) {
        auto& entry = entries_[reason];
        const auto now = std::chrono::steady_clock::now();
        if (entry.last != std::chrono::steady_clock::time_point{} && now - entry.last < interval_) {
            ++entry.held_back;
            return false;
        }
        held_back = entry.held_back;
        entry = {now, 0};
        return true;
    }

  private:
    struct Entry {
        std::chrono::steady_clock::time_point last{};
        uint64_t held_back = 0;
    };
    std::chrono::steady_clock::duration interval_;
    std::map<std::string, Entry> entries_;  // reasons are a fixed small set
};

class AmqpConsume : public sdk::Collector {
  public:
    explicit AmqpConsume(const sdk::Context& context)
        : host_(context.host),
          settings_(connection_settings(context.options)),
          exchange_(context.options.string_value("exchange")),
          queue_(context.options.string_value("queue")),
          queue_type_(context.options.string_value("queue_type")),
          binding_key_(context.options.string_value("binding_key")),
          prefetch_(static_cast<uint16_t>(
              std::clamp<int64_t>(context.options.integer_value("prefetch"), 1, 65535))),
          collect_time_(
              std::chrono::nanoseconds(context.options.duration_value_ns("collect_time"))),
          queue_max_bytes_(context.options.integer_value("queue_max_bytes")),
          dead_letter_max_bytes_(context.options.integer_value("dead_letter_max_bytes")),
          admission_(admission_settings(context.options)),
          dead_letters_(settings_, exchange_ + ".dead", "fanout") {
        if (queue_type_ != "classic" && queue_type_ != "quorum")
            throw sdk::InvalidInput("queue_type must be classic or quorum, not '" + queue_type_ +
                                    "'");
        if (queue_max_bytes_ < 0 || dead_letter_max_bytes_ < 0)
            throw sdk::InvalidInput("queue_max_bytes and dead_letter_max_bytes must be >= 0");
    }

    void collect(sdk::Emitter& out) override {
        if (!connection_ && !connect())
            return;
        const auto deadline = std::chrono::steady_clock::now() + collect_time_;
        try {
            while (std::chrono::steady_clock::now() < deadline) {
                amqp_maybe_release_buffers(connection_->state());
                amqp_envelope_t envelope;
                timeval wait{0, 20'000};  // 20 ms without a message: the prefetch window is drained
                const amqp_rpc_reply_t reply =
                    amqp_consume_message(connection_->state(), &envelope, &wait, 0);
                if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
                    reply.library_error == AMQP_STATUS_TIMEOUT)
                    break;
                if (reply.reply_type != AMQP_RESPONSE_NORMAL)
                    throw AmqpError(connection_->where() + ": consuming: " + why_not(reply));
                std::unique_ptr<amqp_envelope_t, void (*)(amqp_envelope_t*)> owned(
                    &envelope, amqp_destroy_envelope);
                handle(envelope, out);
            }
        } catch (const AmqpError& e) {
            drop_connection(e.what());
        }
    }

  private:
    bool connect() {
        if (std::chrono::steady_clock::now() < next_attempt_)
            return false;
        try {
            auto connection = connect_any(settings_, cursor_);
            auto* state = connection->state();
            amqp_exchange_declare(state, 1, bytes(exchange_), amqp_cstring_bytes("topic"), 0, 1, 0,
                                  0, amqp_empty_table);
            connection->check("declaring exchange " + exchange_);
            const std::string dead_exchange = exchange_ + ".dead";
            const std::string dead_queue = queue_ + ".dead";
            amqp_exchange_declare(state, 1, bytes(dead_exchange), amqp_cstring_bytes("fanout"), 0,
                                  1, 0, 0, amqp_empty_table);
            connection->check("declaring exchange " + dead_exchange);
            // Dead letters are kept for people to look at: the newest, within a bound.
            QueueArguments dead_arguments;
            declare_queue(*connection, dead_queue, dead_arguments,
                          LengthLimit{dead_letter_max_bytes_, "drop-head"});
            amqp_queue_bind(state, 1, bytes(dead_queue), bytes(dead_exchange),
                            amqp_cstring_bytes(""), amqp_empty_table);
            connection->check("binding queue " + dead_queue);
            // A runaway producer must not fill the broker's disk: past queue_max_bytes the
            // broker refuses (nacks) publishes, so agents keep their batches in their spools
            // and nothing is lost; drop-head would silently lose the oldest.
            QueueArguments arguments;
            arguments.add("x-dead-letter-exchange", dead_exchange);
            declare_queue(*connection, queue_, arguments,
                          LengthLimit{queue_max_bytes_, "reject-publish"});
            amqp_queue_bind(state, 1, bytes(queue_), bytes(exchange_), bytes(binding_key_),
                            amqp_empty_table);
            connection->check("binding queue " + queue_ + " to " + exchange_ + " with " +
                              binding_key_);
            amqp_basic_qos(state, 1, 0, prefetch_, 0);
            connection->check("setting prefetch");
            amqp_basic_consume(state, 1, bytes(queue_), amqp_empty_bytes, 0, /*no_ack*/ 0, 0,
                               amqp_empty_table);
            connection->check("consuming from " + queue_);
            host_.info("consuming " + queue_ + " (" + binding_key_ + " on " + exchange_ +
                       ") from " + connection->where());
            connection_ = std::move(connection);
            ++generation_;
            backoff_.reset();
            return true;
        } catch (const AmqpError& e) {
            const auto wait = backoff_.next();
            next_attempt_ = std::chrono::steady_clock::now() + wait;
            if (backoff_.failures() == 1 || backoff_.failures() % 10 == 0) {
                host_.warn(std::string(e.what()) + "; retry in " + std::to_string(wait.count()) +
                           " ms");
            }
            return false;
        }
    }

    // Declares a durable queue with `arguments`. A queue that exists with other arguments (an
    // older dmon declared it without length limits, and RabbitMQ cannot change them) is used as
    // it is, with a warning that gives the policy that adds the limits: refusing to consume
    // would stop all storage at an upgrade.
    // A queue's length bound, written once: as declaration arguments, and as the policy that
    // gives an existing queue the same bound. max_bytes 0: no bound.
    struct LengthLimit {
        int64_t max_bytes;
        const char* overflow;  // x-overflow: what the broker does past the bound
        void add_to(QueueArguments& arguments) const {
            if (max_bytes > 0) {
                arguments.add("x-max-length-bytes", max_bytes);
                arguments.add("x-overflow", std::string(overflow));
            }
        }
        std::string policy() const {
            return R"({"max-length-bytes":)" + std::to_string(max_bytes) + R"(,"overflow":")" +
                   overflow + R"("})";
        }
    };

    void declare_queue(Connection& connection, const std::string& name, QueueArguments& arguments,
                       const LengthLimit& limit) {
        limit.add_to(arguments);
        // Classic is RabbitMQ's default: said only for quorum, so that a queue an older dmon
        // declared without the argument stays equivalent.
        if (queue_type_ == "quorum")
            arguments.add("x-queue-type", queue_type_);
        auto* state = connection.state();
        amqp_queue_declare(state, 1, bytes(name), 0, /*durable*/ 1, 0, 0, arguments.table());
        const amqp_rpc_reply_t reply = amqp_get_rpc_reply(state);
        const bool inequivalent =
            reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
            reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD &&
            static_cast<amqp_channel_close_t*>(reply.reply.decoded)->reply_code ==
                AMQP_PRECONDITION_FAILED;
        if (!inequivalent) {
            connection.check("declaring queue " + name);
            return;
        }
        const std::string broker_says =
            text(static_cast<amqp_channel_close_t*>(reply.reply.decoded)->reply_text);
        // The broker closed the channel: acknowledge, reopen, and take the queue as it is.
        amqp_channel_close_ok_t close_ok{};
        amqp_send_method(state, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
        amqp_channel_open(state, 1);
        connection.check("reopening the channel");
        amqp_queue_declare(state, 1, bytes(name), /*passive*/ 1, 1, 0, 0, amqp_empty_table);
        connection.check("declaring queue " + name + " as it exists");
        if (limit.max_bytes <= 0) {
            host_.warn("queue " + name + " exists with other arguments (" + broker_says +
                       "): used as it is");
            return;
        }
        host_.warn("queue " + name + " exists with other arguments (" + broker_says +
                   "; declared by an older dmon or with another queue_type?): used as it is, "
                   "perhaps without its length limit; a queue's type cannot change (delete it "
                   "once drained to change it); add the limit as a policy: rabbitmqctl set_policy "
                   "dmon-" +
                   name + " '^" + regex_escape(name) + "$' '" + limit.policy() +
                   "' --apply-to queues");
    }

    static std::string regex_escape(const std::string& text) {
        std::string out;
        for (const char c : text) {
            if (std::string_view(".^$*+?()[]{}|\\").find(c) != std::string_view::npos)
                out.push_back('\\');
            out.push_back(c);
        }
        return out;
    }

    // rabbitmq-c says "unexpected protocol state" when something other than a delivery
    // arrives: read that frame and say what it was (the broker closing the connection, and why).
    std::string why_not(const amqp_rpc_reply_t& reply) {
        if (reply.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION ||
            reply.library_error != AMQP_STATUS_UNEXPECTED_STATE) {
            return describe(reply);
        }
        amqp_frame_t frame;
        timeval wait{0, 100'000};
        const int status = amqp_simple_wait_frame_noblock(connection_->state(), &frame, &wait);
        if (status != AMQP_STATUS_OK)
            return std::string("the connection was lost (") + amqp_error_string2(status) + ")";
        if (frame.frame_type == AMQP_FRAME_METHOD &&
            frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
            const auto* close = static_cast<amqp_connection_close_t*>(frame.payload.method.decoded);
            return "the broker closed the connection: " + std::to_string(close->reply_code) + " " +
                   text(close->reply_text);
        }
        if (frame.frame_type == AMQP_FRAME_METHOD &&
            frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
            const auto* close = static_cast<amqp_channel_close_t*>(frame.payload.method.decoded);
            return "the broker closed the channel: " + std::to_string(close->reply_code) + " " +
                   text(close->reply_text);
        }
        return "an unexpected frame from the broker (type " + std::to_string(frame.frame_type) +
               ")";
    }

    void drop_connection(const std::string& why) {
        // Unacknowledged messages go back to the queue on the broker's side: nothing is lost,
        // and acks of the old connection are no longer sent (generation changes on reconnect).
        host_.warn(why + "; messages not yet stored stay in the broker's queue; reconnecting");
        connection_->abandon();  // no polite close with a broker that is gone or closing
        connection_.reset();
        next_broker(settings_, cursor_);  // another node first: this one may be gone
        next_attempt_ = std::chrono::steady_clock::now() + backoff_.next();
    }

    void handle(const amqp_envelope_t& envelope, sdk::Emitter& out) {
        const auto& props = envelope.message.properties;
        const std::string body = text(envelope.message.body);
        const std::string routing_key = text(envelope.routing_key);
        const std::string user_id =
            (props._flags & AMQP_BASIC_USER_ID_FLAG) != 0 ? text(props.user_id) : std::string();
        const std::string message_id = (props._flags & AMQP_BASIC_MESSAGE_ID_FLAG) != 0
                                           ? text(props.message_id)
                                           : std::string();
        const IncomingMessage message{body, routing_key, user_id, message_id};
        const uint64_t tag = envelope.delivery_tag;
        if (auto rejection = admission_.admit(message, host_.now_ns(), parsed_)) {
            refuse(message, tag, rejection);
            return;
        }
        std::vector<sdk::Label> labels;
        for (const auto& sample : parsed_.samples) {
            labels.clear();
            for (const auto& [key, value] : parsed_.labels(sample))
                labels.push_back({key, value});
            out.add(sample.name, labels.begin(), labels.end(), sample.value, sample.type,
                    sample.timestamp_ns);
        }
        parsed_.clear();
        const uint64_t generation = generation_;
        // The store remembers "<sender>/<message_id>": one sender cannot make another's
        // messages look like duplicates.
        const std::string origin =
            message_id.empty() ? std::string() : Admission::origin(message) + "/" + message_id;
        // Runs on this instance's strand once the sinks are done: ack (stored) or requeue.
        out.flush_with_completion(origin, [this, tag, generation](bool stored) {
            if (!connection_ || generation != generation_)
                return;  // that connection is gone: redelivered anyway
            if (stored) {
                amqp_basic_ack(connection_->state(), 1, tag, 0);
            } else {
                host_.count("requeued_messages");
                amqp_basic_nack(connection_->state(), 1, tag, 0, /*requeue*/ 1);
            }
        });
        host_.count("messages");
    }

    // A refused message goes whole to the dead-letter exchange with the reason in headers,
    // then is acknowledged. If that publish fails, the broker dead-letters it (reject without
    // requeue), without the reason: it is never lost and never stored.
    void refuse(const IncomingMessage& message, uint64_t tag,
                const line_protocol::Rejection& rejection) {
        host_.count("consume.rejected{reason=" + rejection.reason + "}");
        OutgoingMessage dead;
        dead.body = std::string(message.body);
        dead.routing_key = std::string(message.routing_key);
        dead.message_id = std::string(message.message_id);
        dead.timestamp_ns = host_.now_ns();
        dead.headers = {{"x-dmon-reject-reason", rejection.reason},
                        {"x-dmon-reject-detail", escape_text(rejection.detail, 200)},
                        {"x-dmon-routing-key", std::string(message.routing_key)},
                        {"x-dmon-user-id", std::string(message.user_id)}};
        bool published = false;
        std::string publish_error;
        try {
            dead_letters_.publish(dead);
            published = true;
        } catch (const AmqpError& e) {
            publish_error = e.what();
        }
        if (published) {
            amqp_basic_ack(connection_->state(), 1, tag, 0);
        } else {
            amqp_basic_reject(connection_->state(), 1, tag, /*requeue*/ 0);
        }
        uint64_t held_back = 0;
        if (!log_throttle_.allow(rejection.reason, held_back))
            return;
        host_.warn(
            "refused message " +
            (message.message_id.empty() ? std::string("(no message_id)")
                                        : escape_text(message.message_id, 100)) +
            " from " + escape_text(message.routing_key, 100) +
            (message.user_id.empty() ? "" : " (user " + escape_text(message.user_id, 64) + ")") +
            ": " + rejection.reason + ": " + escape_text(rejection.detail, 200) + "; text: \"" +
            escape_text(message.body, 200) + "\"" +
            (published ? "; in the dead-letter queue with the reason"
                       : "; dead-lettered without the reason (" + publish_error + ")") +
            (held_back > 0 ? "; " + std::to_string(held_back) +
                                 " more refused for this reason in the last second"
                           : ""));
    }

    sdk::Host host_;
    ConnectionSettings settings_;
    std::string exchange_, queue_, queue_type_, binding_key_;
    uint16_t prefetch_;
    std::chrono::nanoseconds collect_time_;
    std::unique_ptr<Connection> connection_;
    size_t cursor_ = 0;  // settings_.urls: the broker consumed from, or tried next
    uint64_t generation_ = 0;
    Backoff backoff_;
    std::chrono::steady_clock::time_point next_attempt_{};
    int64_t queue_max_bytes_, dead_letter_max_bytes_;
    Admission admission_;
    Publisher dead_letters_;  // its own connection, with confirms
    ReasonThrottle log_throttle_{std::chrono::seconds(1)};
    line_protocol::ParsedMessage parsed_;
};

}  // namespace dmon::plugins::amqp

DMON_COLLECTOR_PLUGIN(
    dmon::plugins::amqp::AmqpConsume, "amqp_consume", "1.1.0",
    "consumes line protocol from a RabbitMQ queue; acks once every sink has stored it",
    dmon::plugins::amqp::kOptions, 0)
