// amqp_consume: a collector fed by the broker. Declares its durable queue (bound to the
// exchange, with a dead-letter exchange and queue), consumes line protocol from any producer,
// and acknowledges a message only when every sink has durably written its samples. A message
// that cannot be parsed is rejected to the dead-letter queue, counted and logged.
#include "amqp_common/options.hpp"

#include <dmon/line_protocol.hpp>

#include <amqp_framing.h>

#include <chrono>
#include <memory>

namespace dmon::plugins::amqp {

constexpr dmon_option_decl kOptions[] = {
    DMON_AMQP_CONNECTION_OPTIONS,
    sdk::option("queue", DMON_OPT_STRING, "dmon.controller",
                "the durable queue this controller consumes"),
    sdk::option("binding_key", DMON_OPT_STRING, "metrics.#",
                "which routing keys the queue receives"),
    sdk::option("prefetch", DMON_OPT_INT, "1000", "messages in flight (unacknowledged) at most"),
    sdk::option("collect_time", DMON_OPT_DURATION, "200ms",
                "longest one collect() reads messages for"),
};

class AmqpConsume : public sdk::Collector {
  public:
    explicit AmqpConsume(const sdk::Context& context)
        : host_(context.host),
          settings_(connection_settings(context.options)),
          exchange_(context.options.string_value("exchange")),
          queue_(context.options.string_value("queue")),
          binding_key_(context.options.string_value("binding_key")),
          prefetch_(static_cast<uint16_t>(
              std::clamp<int64_t>(context.options.integer_value("prefetch"), 1, 65535))),
          collect_time_(
              std::chrono::nanoseconds(context.options.duration_value_ns("collect_time"))) {}

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
            auto connection = std::make_unique<Connection>(settings_);
            auto* state = connection->state();
            amqp_exchange_declare(state, 1, bytes(exchange_), amqp_cstring_bytes("topic"), 0, 1, 0,
                                  0, amqp_empty_table);
            connection->check("declaring exchange " + exchange_);
            const std::string dead_exchange = exchange_ + ".dead";
            const std::string dead_queue = queue_ + ".dead";
            amqp_exchange_declare(state, 1, bytes(dead_exchange), amqp_cstring_bytes("fanout"), 0,
                                  1, 0, 0, amqp_empty_table);
            connection->check("declaring exchange " + dead_exchange);
            amqp_queue_declare(state, 1, bytes(dead_queue), 0, 1, 0, 0, amqp_empty_table);
            connection->check("declaring queue " + dead_queue);
            amqp_queue_bind(state, 1, bytes(dead_queue), bytes(dead_exchange),
                            amqp_cstring_bytes(""), amqp_empty_table);
            connection->check("binding queue " + dead_queue);
            amqp_table_entry_t dead_letter{amqp_cstring_bytes("x-dead-letter-exchange"),
                                           {AMQP_FIELD_KIND_UTF8, {}}};
            dead_letter.value.value.bytes = bytes(dead_exchange);
            const amqp_table_t arguments{1, &dead_letter};
            amqp_queue_declare(state, 1, bytes(queue_), 0, /*durable*/ 1, 0, 0, arguments);
            connection->check("declaring queue " + queue_);
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
        next_attempt_ = std::chrono::steady_clock::now() + backoff_.next();
    }

    void handle(const amqp_envelope_t& envelope, sdk::Emitter& out) {
        const std::string body = text(envelope.message.body);
        const auto& props = envelope.message.properties;
        const std::string message_id = (props._flags & AMQP_BASIC_MESSAGE_ID_FLAG) != 0
                                           ? text(props.message_id)
                                           : std::string();
        const uint64_t tag = envelope.delivery_tag;
        const std::string error = line_protocol::parse_message(body, host_.now_ns(), parsed_);
        if (!error.empty() || parsed_.empty()) {
            host_.count("rejected_messages");
            host_.warn("message " + (message_id.empty() ? "(no message_id)" : message_id) +
                       " from " + text(envelope.routing_key) + " sent to the dead-letter queue: " +
                       (error.empty() ? std::string("no samples in it") : error));
            amqp_basic_reject(connection_->state(), 1, tag, /*requeue*/ 0);
            return;
        }
        std::vector<sdk::Label> labels;
        for (const auto& sample : parsed_) {
            labels.clear();
            for (const auto& [key, value] : sample.labels)
                labels.push_back({key, value});
            out.add(sample.name, labels.begin(), labels.end(), sample.value, sample.type,
                    sample.timestamp_ns);
        }
        const uint64_t generation = generation_;
        // Runs on this instance's strand once the sinks are done: ack (stored) or requeue.
        out.flush_with_completion(message_id, [this, tag, generation](bool stored) {
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

    sdk::Host host_;
    ConnectionSettings settings_;
    std::string exchange_, queue_, binding_key_;
    uint16_t prefetch_;
    std::chrono::nanoseconds collect_time_;
    std::unique_ptr<Connection> connection_;
    uint64_t generation_ = 0;
    Backoff backoff_;
    std::chrono::steady_clock::time_point next_attempt_{};
    std::vector<line_protocol::OwnedSample> parsed_;
};

}  // namespace dmon::plugins::amqp

DMON_COLLECTOR_PLUGIN(
    dmon::plugins::amqp::AmqpConsume, "amqp_consume", "1.0.0",
    "consumes line protocol from a RabbitMQ queue; acks once every sink has stored it",
    dmon::plugins::amqp::kOptions, 0)
