#include "amqp_consume/admission.hpp"

#include "common/name_filter.hpp"

#include <stdexcept>

namespace dmon::plugins::amqp {

using line_protocol::Rejection;

SenderRule parse_sender_rule(std::string_view text) {
    const size_t eq = text.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == text.size()) {
        throw std::invalid_argument("a sender is 'user=host-glob[,host-glob...]', not '" +
                                    std::string(text) + "'");
    }
    SenderRule rule{std::string(text.substr(0, eq)), {}};
    std::string_view globs = text.substr(eq + 1);
    while (!globs.empty()) {
        const size_t comma = globs.find(',');
        const std::string_view glob = globs.substr(0, comma);
        if (glob.empty())
            throw std::invalid_argument("sender '" + rule.user + "' has an empty host glob");
        rule.hosts.emplace_back(glob);
        globs = comma == std::string_view::npos ? std::string_view{} : globs.substr(comma + 1);
    }
    return rule;
}

std::string_view routing_key_node(std::string_view routing_key) {
    const size_t first = routing_key.find('.');
    if (first == std::string_view::npos)
        return {};
    const size_t second = routing_key.find('.', first + 1);
    return routing_key.substr(
        first + 1, second == std::string_view::npos ? std::string_view::npos : second - first - 1);
}

std::string routing_word(std::string_view word) {
    std::string out(word);
    for (char& c : out) {
        if (c == '.' || c == '*' || c == '#')
            c = '_';
    }
    return out;
}

std::string Admission::origin(const IncomingMessage& message) {
    std::string out = "node:";
    out.append(routing_key_node(message.routing_key));
    if (!message.user_id.empty())
        out.append(",user:").append(message.user_id);
    return out;
}

Rejection Admission::admit(const IncomingMessage& message, int64_t now_ns,
                           line_protocol::ParsedMessage& out) const {
    out.clear();
    // Who is speaking is settled before the body is read.
    const std::string_view node = routing_key_node(message.routing_key);
    if (settings_.host_from_routing_key && node.empty()) {
        return {"bad_routing_key", "routing key '" + std::string(message.routing_key) +
                                       "' names no node (metrics.<node>.<instance>)"};
    }
    const SenderRule* sender = nullptr;
    if (!settings_.senders.empty()) {
        if (message.user_id.empty())
            return {"no_user_id", "the message has no user_id, and senders are configured"};
        for (const auto& rule : settings_.senders) {
            if (rule.user == message.user_id)
                sender = &rule;
        }
        if (sender == nullptr) {
            return {"sender_unknown",
                    "user '" + std::string(message.user_id) + "' is not among the senders"};
        }
    }

    line_protocol::Limits limits = settings_.limits;
    limits.oldest_ns = settings_.max_age_ns > 0 ? now_ns - settings_.max_age_ns : INT64_MIN;
    limits.newest_ns = now_ns + settings_.max_future_ns;
    if (Rejection rejection = line_protocol::parse_message(message.body, now_ns, out, limits))
        return rejection;
    if (out.samples.empty()) {
        return {"empty", "no samples in it"};
    }

    const std::string node_host(node);
    for (auto& labels : out.label_sets) {
        auto host = std::find_if(labels.begin(), labels.end(),
                                 [](const auto& label) { return label.first == "host"; });
        if (settings_.host_from_routing_key) {
            if (host == labels.end()) {
                labels.insert(labels.begin(), {"host", node_host});
                host = labels.begin();
            } else if (routing_word(host->second) != node) {
                Rejection rejection{
                    "host_mismatch",
                    "host '" + host->second + "' in a message routed as node '" + node_host + "'"};
                out.clear();
                return rejection;
            }
        }
        if (sender != nullptr) {
            const std::string_view written =
                host != labels.end() ? std::string_view(host->second) : std::string_view(node);
            bool allowed = false;
            for (const auto& glob : sender->hosts)
                allowed = allowed || glob_match(glob, written);
            if (!allowed) {
                Rejection rejection{"sender_not_allowed", "user '" + sender->user +
                                                              "' may not write host '" +
                                                              std::string(written) + "'"};
                out.clear();
                return rejection;
            }
        }
    }
    return {};
}

}  // namespace dmon::plugins::amqp
