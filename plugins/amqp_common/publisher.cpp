#include "amqp_common/publisher.hpp"

#include <amqp_framing.h>

#include <set>
#include <vector>

namespace dmon::plugins::amqp {

void Publisher::connect() {
    auto connection = connect_any(settings_, cursor_);
    amqp_confirm_select(connection->state(), 1);
    connection->check("enabling publisher confirms");
    amqp_exchange_declare(connection->state(), 1, amqp_cstring_bytes(exchange_.c_str()),
                          bytes(exchange_type_), 0, /*durable*/ 1, 0, 0, amqp_empty_table);
    connection->check("declaring exchange " + exchange_);
    connection_ = std::move(connection);
    next_tag_ = 1;
}

void Publisher::send(std::deque<OutgoingMessage>& pending) {
    if (pending.empty())
        return;
    if (!connection_)
        connect();  // a failed connect leaves no connection behind
    try {
        const uint64_t first_tag = next_tag_;
        for (const auto& message : pending) {
            amqp_basic_properties_t props{};
            props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
                           AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG |
                           AMQP_BASIC_USER_ID_FLAG | AMQP_BASIC_APP_ID_FLAG | AMQP_BASIC_TYPE_FLAG;
            props.content_type = amqp_cstring_bytes("text/plain; charset=utf-8");
            props.delivery_mode = 2;  // persistent
            props.message_id = bytes(message.message_id);
            props.timestamp = static_cast<uint64_t>(message.timestamp_ns / 1'000'000'000);
            // The broker checks user_id against the login: the controller knows who really sent it.
            props.user_id = bytes(connection_->user());
            props.app_id = amqp_cstring_bytes("dmon");
            props.type = amqp_cstring_bytes("dmon.samples.v1");
            std::vector<amqp_table_entry_t> headers;
            for (const auto& [key, value] : message.headers) {
                amqp_table_entry_t entry{bytes(key), {AMQP_FIELD_KIND_UTF8, {}}};
                entry.value.value.bytes = bytes(value);
                headers.push_back(entry);
            }
            if (!headers.empty()) {
                props._flags |= AMQP_BASIC_HEADERS_FLAG;
                props.headers = amqp_table_t{static_cast<int>(headers.size()), headers.data()};
            }
            const int status = amqp_basic_publish(connection_->state(), 1, bytes(exchange_),
                                                  bytes(message.routing_key),
                                                  /*mandatory*/ 1, 0, &props, bytes(message.body));
            if (status != AMQP_STATUS_OK) {
                throw AmqpError(connection_->where() +
                                ": publishing: " + amqp_error_string2(status));
            }
            ++next_tag_;
        }
        wait_for_confirms(pending, first_tag);
    } catch (const AmqpError&) {
        connection_->abandon();
        connection_.reset();
        // The next attempt starts with another broker of the list: the one that failed may be
        // gone (what was unconfirmed is published again there, under the same message ids).
        next_broker(settings_, cursor_);
        throw;
    }
}

void Publisher::publish(const OutgoingMessage& message) {
    std::deque<OutgoingMessage> one{message};
    send(one);  // throws unless the broker confirmed it and a queue took it
}

void Publisher::wait_for_confirms(std::deque<OutgoingMessage>& pending, uint64_t first_tag) {
    // Confirms may come out of order (a message taken by a consumer at once is confirmed
    // before earlier ones reach disk): track every tag, not a "confirmed up to" counter.
    std::set<uint64_t> outstanding;
    for (uint64_t tag = first_tag; tag < next_tag_; ++tag)
        outstanding.insert(tag);
    std::set<uint64_t> nacked;
    std::set<std::string>
        returned;  // message ids no queue took (mandatory): kept, sent again later
    const auto deadline = std::chrono::steady_clock::now() + settings_.timeout;
    while (!outstanding.empty()) {
        const auto left = std::chrono::duration_cast<std::chrono::microseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            throw AmqpError(connection_->where() + ": no confirm for " +
                            std::to_string(outstanding.size()) + " message(s) within " +
                            std::to_string(settings_.timeout.count()) + " ms");
        }
        timeval timeout{static_cast<decltype(timeval::tv_sec)>(left.count() / 1'000'000),
                        static_cast<decltype(timeval::tv_usec)>(left.count() % 1'000'000)};
        amqp_frame_t frame;
        const int status = amqp_simple_wait_frame_noblock(connection_->state(), &frame, &timeout);
        if (status == AMQP_STATUS_TIMEOUT)
            continue;
        if (status != AMQP_STATUS_OK)
            throw AmqpError(connection_->where() +
                            ": waiting for confirms: " + amqp_error_string2(status));
        if (frame.frame_type != AMQP_FRAME_METHOD)
            continue;
        const amqp_method_number_t id = frame.payload.method.id;
        auto settle = [&](uint64_t tag, bool multiple, bool ok) {
            for (auto it = outstanding.begin(); it != outstanding.end();) {
                if (*it == tag || (multiple && *it <= tag)) {
                    if (!ok)
                        nacked.insert(*it);
                    it = outstanding.erase(it);
                } else {
                    ++it;
                }
            }
        };
        if (id == AMQP_BASIC_ACK_METHOD) {
            const auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
            settle(ack->delivery_tag, ack->multiple != 0, true);
        } else if (id == AMQP_BASIC_NACK_METHOD) {
            const auto* nack = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
            settle(nack->delivery_tag, nack->multiple != 0, false);
        } else if (id == AMQP_BASIC_RETURN_METHOD) {
            // No queue is bound for the routing key (no controller has declared its queue yet).
            // The broker still confirms the message: remember it, so it is not taken as delivered.
            amqp_message_t message;
            const amqp_rpc_reply_t reply =
                amqp_read_message(connection_->state(), frame.channel, &message, 0);
            if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
                throw AmqpError(connection_->where() +
                                ": reading a returned message: " + describe(reply));
            }
            if ((message.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) != 0) {
                returned.insert(text(message.properties.message_id));
            }
            amqp_destroy_message(&message);
        } else if (id == AMQP_CONNECTION_BLOCKED_METHOD) {
            const auto* blocked =
                static_cast<amqp_connection_blocked_t*>(frame.payload.method.decoded);
            throw AmqpError(connection_->where() + ": the broker blocks publishers (" +
                            text(blocked->reason) +
                            "): a memory or disk alarm; the batch is kept and sent again later");
        } else if (id == AMQP_CHANNEL_CLOSE_METHOD) {
            // e.g. 403 ACCESS_REFUSED: a topic permission forbids this routing key.
            const auto* close = static_cast<amqp_channel_close_t*>(frame.payload.method.decoded);
            throw AmqpError(connection_->where() + ": the broker closed the channel: " +
                            std::to_string(close->reply_code) + " " + text(close->reply_text));
        } else if (id == AMQP_CONNECTION_CLOSE_METHOD) {
            const auto* close = static_cast<amqp_connection_close_t*>(frame.payload.method.decoded);
            throw AmqpError(connection_->where() + ": the broker closed the connection: " +
                            std::to_string(close->reply_code) + " " + text(close->reply_text));
        }
    }
    // Keep what was nacked or returned; drop what a queue took. Messages sent again keep their
    // message_id, so a controller that got one already stores it once.
    std::deque<OutgoingMessage> kept;
    std::string unroutable_key;
    uint64_t tag = first_tag;
    for (auto& message : pending) {
        const bool was_returned = returned.contains(message.message_id);
        if (was_returned)
            unroutable_key = message.routing_key;
        if (nacked.contains(tag++) || was_returned)
            kept.push_back(std::move(message));
    }
    pending.swap(kept);
    if (!returned.empty()) {
        throw AmqpError(connection_->where() + ": no queue is bound for routing key " +
                        unroutable_key + " (has a controller declared its queue yet?); " +
                        std::to_string(returned.size()) + " message(s) kept to send again");
    }
    if (!nacked.empty()) {
        throw AmqpError(connection_->where() + ": the broker refused (nack) " +
                        std::to_string(nacked.size()) + " message(s)");
    }
}

}  // namespace dmon::plugins::amqp
