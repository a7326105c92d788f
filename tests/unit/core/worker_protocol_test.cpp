// The frames between the host and an isolated plugin's worker (core/worker_protocol): exact
// bytes, round trips, and a worker that sends garbage is refused, not believed.
#include "dmon/core/sealed_batch.hpp"
#include "dmon/core/worker_protocol.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace dmon::core::worker {
namespace {

TEST(WorkerProtocol, AFrameIsLengthTypeAndPayload) {
    const std::string frame = encode_frame(FrameType::collect, encode_collect(0x0102030405060708));
    ASSERT_EQ(frame.size(), 4u + 1u + 8u);
    uint32_t length = 0;
    std::memcpy(&length, frame.data(), 4);
    EXPECT_EQ(length, 9u);  // type and payload
    EXPECT_EQ(static_cast<uint8_t>(frame[4]), 2u);
    EXPECT_EQ(decode_collect(std::string_view(frame).substr(5)), 0x0102030405060708);
}

TEST(WorkerProtocol, TheReaderCutsAStreamFedInPiecesIntoFrames) {
    const std::string stream = encode_frame(FrameType::log, encode_log({3, "[x] slow disk"})) +
                               encode_frame(FrameType::flush, "") +
                               encode_frame(FrameType::complete, encode_complete(42, true));
    FrameReader reader;
    std::vector<Frame> frames;
    for (char byte : stream) {  // one byte at a time: a frame may end anywhere in a read
        reader.feed(&byte, 1);
        while (auto frame = reader.next())
            frames.push_back(std::move(*frame));
    }
    ASSERT_EQ(frames.size(), 3u);
    EXPECT_EQ(frames[0].type, FrameType::log);
    EXPECT_EQ(decode_log(frames[0].payload)->text, "[x] slow disk");
    EXPECT_EQ(decode_log(frames[0].payload)->level, 3);
    EXPECT_EQ(frames[1].type, FrameType::flush);
    EXPECT_EQ(frames[1].payload, "");
    EXPECT_EQ(decode_complete(frames[2].payload), std::make_pair(uint64_t{42}, true));
    EXPECT_EQ(reader.buffered(), 0u);
    EXPECT_TRUE(reader.error().empty());
}

TEST(WorkerProtocol, AnOversizedOrUnknownFrameIsAnErrorBeforeAnyAllocation) {
    FrameReader huge;
    const uint32_t length = kMaxFrameBytes + 1;
    std::string header(4, '\0');
    std::memcpy(header.data(), &length, 4);
    huge.feed(header.data(), header.size());
    EXPECT_FALSE(huge.next());
    EXPECT_EQ(huge.error(), "a frame of 268435457 bytes (at most 268435456)");

    FrameReader unknown;
    std::string frame = encode_frame(FrameType::stop, "");
    frame[4] = 99;
    unknown.feed(frame.data(), frame.size());
    EXPECT_FALSE(unknown.next());
    EXPECT_EQ(unknown.error(), "a frame of unknown type 99");
    EXPECT_FALSE(unknown.next()) << "a stream with a bad frame is not read any further";
}

TEST(WorkerProtocol, CreateCarriesTheValidatedOptions) {
    CreateRequest request;
    request.kind = InstanceKind::sink;
    request.check_only = true;
    request.plugin_path = "/usr/lib/dmon/acme.so";
    request.instance_name = "acme";
    request.node = "web-1";
    request.location = "/etc/dmon/agent.yaml:12:5";
    request.log_level = "debug";
    dmon_options::Value path;
    path.type = DMON_OPT_STRING;
    path.text = "/var/lib/acme";
    request.options.values["path"] = path;
    dmon_options::Value hosts;
    hosts.type = DMON_OPT_STRING_LIST;
    hosts.list = {"a", "b"};
    request.options.values["hosts"] = hosts;
    dmon_options::Value every;
    every.type = DMON_OPT_DURATION;
    every.duration_ns = 5'000'000'000;
    request.options.values["every"] = every;

    const auto decoded = decode_create(encode_create(request));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->kind, InstanceKind::sink);
    EXPECT_TRUE(decoded->check_only);
    EXPECT_EQ(decoded->plugin_path, "/usr/lib/dmon/acme.so");
    EXPECT_EQ(decoded->location, "/etc/dmon/agent.yaml:12:5");
    EXPECT_EQ(decoded->options.values.at("path").text, "/var/lib/acme");
    EXPECT_EQ(decoded->options.values.at("hosts").list, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(decoded->options.values.at("every").duration_ns, 5'000'000'000);
    // Cut anywhere, it does not decode.
    const std::string bytes = encode_create(request);
    for (size_t size = 0; size < bytes.size(); ++size)
        EXPECT_FALSE(decode_create(std::string_view(bytes).substr(0, size))) << size;
}

TEST(WorkerProtocol, AReplyFromAHostileWorkerIsBounded) {
    Reply reply;
    reply.status = DMON_ERROR;
    reply.error = std::string(10000, 'e');
    reply.counters = {{"parse_errors", 3}};
    reply.refused.not_finite = 2;
    reply.refused.example = "test.ratio=nan";
    reply.tokens = {0, 7};
    const auto decoded = decode_reply(encode_reply(reply));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->status, DMON_ERROR);
    EXPECT_EQ(decoded->error.size(), 4096u) << "cut, not refused";
    EXPECT_EQ(decoded->counters, reply.counters);
    EXPECT_EQ(decoded->refused.not_finite, 2u);
    EXPECT_EQ(decoded->tokens, reply.tokens);

    std::string bad_status = encode_reply(reply);
    bad_status[0] = 9;
    EXPECT_FALSE(decode_reply(bad_status));
    Reply too_many;
    for (int i = 0; i < 1001; ++i)
        too_many.counters.emplace_back("c" + std::to_string(i), 1);
    EXPECT_FALSE(decode_reply(encode_reply(too_many)));
    std::string trailing = encode_reply(reply) + "x";
    EXPECT_FALSE(decode_reply(trailing));
}

TEST(WorkerProtocol, ACBatchEncodesAsTheSealedBatchItWasMadeFrom) {
    SealedBatch sealed;
    sealed.id = "web-1:acme:1:7";
    auto plain = std::make_shared<SampleBatch>();
    plain->add("cpu.busy", {{"host", "web-1"}, {"cpu", "0"}}, 12.5, DMON_GAUGE, 1000);
    auto from_message = std::make_shared<SampleBatch>();
    from_message->set_origin("msg-42");
    from_message->add("net.bytes", {{"host", "web-2"}}, 4096, DMON_COUNTER, 2000);
    from_message->add("net.packets", {{"host", "web-2"}}, 3, DMON_COUNTER, 2000);
    sealed.add(plain);
    sealed.add(from_message);
    CBatchView view;
    const auto decoded = decode_sealed_batch(encode_c_batch(view.view(sealed)));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->id, "web-1:acme:1:7");
    ASSERT_EQ(decoded->parts.size(), 2u);
    EXPECT_EQ(decoded->samples, 3u);
    EXPECT_EQ(decoded->parts[0]->origin(), "");
    EXPECT_EQ(decoded->parts[1]->origin(), "msg-42");
    // Same samples, same order, same labels: their encodings agree.
    SealedBatch expected = sealed;
    expected.sealed_at_ns = 0;
    auto strip_sources = [](const SealedBatch& batch) {
        CBatchView again;
        return encode_c_batch(again.view(batch));
    };
    EXPECT_EQ(strip_sources(*decoded), strip_sources(expected));
}

}  // namespace
}  // namespace dmon::core::worker
