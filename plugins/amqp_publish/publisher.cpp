#include "amqp_publish/publisher.hpp"

#include <amqp_framing.h>

#include <set>

namespace dmon::plugins::amqp {

void Publisher::connect() {
    auto connection = std::make_unique<Connection>(settings_);
    amqp_confirm_select(connection->state(), 1);
    connection->check("enabling publisher confirms");
    amqp_exchange_declare(connection->state(), 1, amqp_cstring_bytes(exchange_.c_str()),
                          amqp_cstring_bytes("topic"), 0, /*durable*/ 1, 0, 0, amqp_empty_table);
    connection->check("declaring exchange " + exchange_);
    connection_ = std::move(connection);
    next_tag_ = 1;
}

void Publisher::send(std::deque<OutgoingMessage>& pending) {
    if (pending.empty())
        return;
    try {
        if (!connection_)
            connect();
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
            const int status = amqp_basic_publish(connection_->state(), 1, bytes(exchange_),
                                                  bytes(message.routing_key),
                                                  /*mandatory*/ 0, 0, &props, bytes(message.body));
            if (status != AMQP_STATUS_OK) {
                throw AmqpError(connection_->where() +
                                ": publishing: " + amqp_error_string2(status));
            }
            ++next_tag_;
        }
        wait_for_confirms(pending, first_tag);
    } catch (const AmqpError&) {
        connection_.reset();
        throw;
    }
}

void Publisher::wait_for_confirms(std::deque<OutgoingMessage>& pending, uint64_t first_tag) {
    // Confirms may come out of order (a message taken by a consumer at once is confirmed
    // before earlier ones reach disk): track every tag, not a "confirmed up to" counter.
    std::set<uint64_t> outstanding;
    for (uint64_t tag = first_tag; tag < next_tag_; ++tag)
        outstanding.insert(tag);
    std::set<uint64_t> nacked;
    const auto deadline = std::chrono::steady_clock::now() + settings_.timeout;
    while (!outstanding.empty()) {
        const auto left = std::chrono::duration_cast<std::chrono::microseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            throw AmqpError(connection_->where() + ": no confirm for " +
                            std::to_string(outstanding.size()) + " message(s) within " +
                            std::to_string(settings_.timeout.count()) + " ms");
        }
        timeval timeout{static_cast<time_t>(left.count() / 1'000'000),
                        static_cast<suseconds_t>(left.count() % 1'000'000)};
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
        } else if (id == AMQP_CHANNEL_CLOSE_METHOD || id == AMQP_CONNECTION_CLOSE_METHOD) {
            throw AmqpError(connection_->where() +
                            ": the broker closed the channel while confirming");
        }
    }
    // Drop confirmed messages from the front; a nacked one (and all after it) is sent again,
    // keeping the order.
    size_t confirmed = 0;
    for (uint64_t tag = first_tag; tag < next_tag_ && !nacked.contains(tag); ++tag)
        ++confirmed;
    pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(confirmed));
    if (!nacked.empty())
        throw AmqpError(connection_->where() + ": the broker refused (nack) " +
                        std::to_string(nacked.size()) + " message(s)");
}

}  // namespace dmon::plugins::amqp
