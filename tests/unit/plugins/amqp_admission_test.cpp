// amqp_consume's admission: who may write which host, and what a message may be. Recorded
// messages in, exact reasons out (the broker side is in tests/integration/security_test.cpp).
#include "amqp_consume/admission.hpp"

#include <gtest/gtest.h>

namespace dmon::plugins::amqp {
namespace {

constexpr int64_t kNow = 1'800'000'000'000'000'000;

std::string admit(const Admission& admission, std::string_view body, std::string_view key,
                  std::string_view user, line_protocol::ParsedMessage& out) {
    const auto rejection = admission.admit({body, key, user, "id-1"}, kNow, out);
    return rejection ? rejection.reason + ": " + rejection.detail : "";
}

TEST(AmqpAdmission, TheHostIsTheRoutingKeysNode) {
    Admission admission{AdmissionSettings{}};
    line_protocol::ParsedMessage out;
    // A line without a host label is filed under the sender's node, not the controller's.
    ASSERT_EQ(admit(admission, "m gauge=1", "metrics.web1.proc_cpu", "", out), "");
    ASSERT_EQ(out.samples.size(), 1u);
    EXPECT_EQ(out.labels(out.samples[0]).front(),
              (std::pair<std::string, std::string>{"host", "web1"}));
    // A dotted host name travels as one routing-key word.
    EXPECT_EQ(admit(admission, "m,host=web1.example.com gauge=1",
                    "metrics.web1_example_com.proc_cpu", "", out),
              "");
    // The spoof of issue 9: published under the intruder's key, claiming to be the victim.
    EXPECT_EQ(admit(admission, "m,host=ok gauge=1 1800000000000000000\nm,host=victim gauge=1",
                    "metrics.ok.x", "", out),
              "host_mismatch: host 'victim' in a message routed as node 'ok'");
    EXPECT_TRUE(out.samples.empty());
    EXPECT_EQ(admit(admission, "m gauge=1", "nodots", "", out),
              "bad_routing_key: routing key 'nodots' names no node (metrics.<node>.<instance>)");
}

TEST(AmqpAdmission, TrustingTheLabelIsAChoice) {
    AdmissionSettings settings;
    settings.host_from_routing_key = false;
    Admission admission{settings};
    line_protocol::ParsedMessage out;
    EXPECT_EQ(admit(admission, "m,host=victim gauge=1", "anything", "", out), "");
}

TEST(AmqpAdmission, SendersRestrictUsersToTheirHosts) {
    AdmissionSettings settings;
    settings.senders = {parse_sender_rule("agent-web1=web1"), parse_sender_rule("fleet=db*,web2")};
    Admission admission{settings};
    line_protocol::ParsedMessage out;
    EXPECT_EQ(admit(admission, "m gauge=1", "metrics.web1.x", "agent-web1", out), "");
    EXPECT_EQ(admit(admission, "m gauge=1", "metrics.db7.x", "fleet", out), "");
    EXPECT_EQ(admit(admission, "m gauge=1", "metrics.web2.x", "agent-web1", out),
              "sender_not_allowed: user 'agent-web1' may not write host 'web2'");
    EXPECT_EQ(admit(admission, "m gauge=1", "metrics.web1.x", "", out),
              "no_user_id: the message has no user_id, and senders are configured");
    EXPECT_EQ(admit(admission, "m gauge=1", "metrics.web1.x", "mallory", out),
              "sender_unknown: user 'mallory' is not among the senders");
    EXPECT_THROW(parse_sender_rule("nohosts"), std::invalid_argument);
    EXPECT_THROW(parse_sender_rule("u=a,,b"), std::invalid_argument);
}

TEST(AmqpAdmission, TimestampsAreBoundedByAgeAndFuture) {
    AdmissionSettings settings;
    settings.max_age_ns = 3600'000'000'000;
    settings.max_future_ns = 60'000'000'000;
    Admission admission{settings};
    line_protocol::ParsedMessage out;
    EXPECT_EQ(admit(admission, "m gauge=1 " + std::to_string(kNow + 61'000'000'000), "metrics.a.b",
                    "", out)
                  .substr(0, 20),
              "timestamp_in_future:");
    EXPECT_EQ(admit(admission, "m gauge=1 " + std::to_string(kNow - 3601'000'000'000),
                    "metrics.a.b", "", out)
                  .substr(0, 18),
              "timestamp_too_old:");
    EXPECT_EQ(admit(admission, "m gauge=1 " + std::to_string(kNow - 3599'000'000'000),
                    "metrics.a.b", "", out),
              "");
}

TEST(AmqpAdmission, EmptyMessagesAndOriginsPerSender) {
    Admission admission{AdmissionSettings{}};
    line_protocol::ParsedMessage out;
    EXPECT_EQ(admit(admission, "# only a comment\n", "metrics.a.b", "", out),
              "empty: no samples in it");
    EXPECT_EQ(Admission::origin({"", "metrics.web1.x", "", "m1"}), "node:web1");
    EXPECT_EQ(Admission::origin({"", "metrics.web1.x", "agent-web1", "m1"}),
              "node:web1,user:agent-web1");
}

}  // namespace
}  // namespace dmon::plugins::amqp
