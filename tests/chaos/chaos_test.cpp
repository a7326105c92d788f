// Faults an operator meets, against a real RabbitMQ and the shipped agent and controller
// configs: the broker SIGKILLed, an agent SIGKILLed while the broker is away, a broker memory
// alarm, a spool whose disk fills, a spool record corrupted on disk. Each test counts rounds:
// present, missing, twice, and the agent's own drop counters.
#include "../integration/broker_fixture.hpp"

#include <sys/mount.h>

#include <fstream>
#include <regex>

namespace dmon::test {
namespace {

const std::string kDmonctl = DMONCTL_BINARY;

class Chaos : public BrokerFixture {
  protected:
    std::unique_ptr<Process> agent_with_spool(const std::string& node, const std::string& spool) {
        return std::make_unique<Process>(
            "env " + env(db_) + "DMON_CONTROL=" + folder_.path(node + ".sock") +
            " DMON_SPOOL=" + spool + " " + kDmon + " run --config " + kSource +
            "/config/agent.yaml --node " + node + " >>" + folder_.path(node + ".log") + " 2>&1");
    }
    CommandResult dmonctl(const std::string& command, const std::string& node) {
        return run_command(kDmonctl + " " + command + " --control " + folder_.path(node + ".sock"));
    }
    // The agent's last "stopped: N samples collected, M written, D dropped" line.
    struct Totals {
        int64_t collected = -1, written = -1, dropped = -1;
    };
    Totals last_totals(const std::string& node) {
        const std::string log = read_text(folder_.path(node + ".log"));
        static const std::regex line(
            R"(stopped: (\d+) samples collected, (\d+) written, (\d+) dropped)");
        Totals totals;
        for (auto it = std::sregex_iterator(log.begin(), log.end(), line);
             it != std::sregex_iterator(); ++it) {
            totals = {std::stoll((*it)[1]), std::stoll((*it)[2]), std::stoll((*it)[3])};
        }
        return totals;
    }
    size_t count(const std::string& text, const std::string& what) {
        size_t n = 0;
        for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
            ++n;
        return n;
    }
    // Rounds of `host` between two moments, and the gaps (missing rounds) among them.
    std::vector<int64_t> rounds(const std::string& host, int64_t from_ns, int64_t to_ns) {
        std::vector<int64_t> out;
        for (int64_t ts : timestamps(host, "system.memory.limit")) {
            if (ts >= from_ns && ts <= to_ns)
                out.push_back(ts);
        }
        return out;
    }
    static int missing(const std::vector<int64_t>& rounds) {
        int gaps = 0;
        for (size_t i = 1; i < rounds.size(); ++i)
            gaps += static_cast<int>((rounds[i] - rounds[i - 1] + 500'000'000) / 1'000'000'000) - 1;
        return gaps;
    }
    void start_broker() {
        auto started = run_command(broker("start"));
        ASSERT_EQ(started.exit_code, 0) << started.output;
    }
};

// The broker dies without a clean shutdown while two agents and a controller run. Agents keep
// their rounds in the spool, report themselves disconnected and degraded, and deliver
// everything once it is back: every round stored once, nothing dropped.
TEST_F(Chaos, BrokerKilledWhileTwoAgentsRunLosesNoRound) {
    auto c = controller();
    auto a = agent("chaos-a");
    auto b = agent("chaos-b");
    ASSERT_TRUE(
        wait_for([&] { return timestamps("chaos-b", "system.memory.limit").size() >= 3; }, 30s));
    ASSERT_EQ(dmonctl("health", "chaos-a").exit_code, 0);
    run_command(broker("kill"));
    // During the outage: disconnected, degraded, and the spool grows.
    std::this_thread::sleep_for(3s);
    const auto status1 = dmonctl("status", "chaos-a").output;
    std::this_thread::sleep_for(4s);
    const auto status2 = dmonctl("status", "chaos-a").output;
    const auto health = dmonctl("health", "chaos-a");
    EXPECT_EQ(health.exit_code, 1) << health.output;
    EXPECT_EQ(health.output.rfind("degraded: sink amqp_publish cannot deliver: ", 0), 0u)
        << health.output;
    static const std::regex spooled(R"(\namqp_publish\tno\t\d+ samples \([^)]*\)\t(\d+) samples)");
    std::smatch m1, m2;
    ASSERT_TRUE(std::regex_search(status1, m1, spooled)) << status1;
    ASSERT_TRUE(std::regex_search(status2, m2, spooled)) << status2;
    EXPECT_GT(std::stoll(m2[1]), std::stoll(m1[1])) << status1 << status2;
    std::this_thread::sleep_for(3s);
    start_broker();
    ASSERT_TRUE(wait_for([&] { return dmonctl("health", "chaos-a").exit_code == 0; }, 60s))
        << dmonctl("health", "chaos-a").output;
    std::this_thread::sleep_for(2s);
    const int64_t stopped_at = now_ns();
    EXPECT_EQ(a->stop(), 0);
    EXPECT_EQ(b->stop(), 0);
    wait_until_settled("chaos-a");
    wait_until_settled("chaos-b");
    for (const char* host : {"chaos-a", "chaos-b"}) {
        expect_every_round(host, stopped_at);
        const Totals totals = last_totals(host);
        EXPECT_EQ(totals.dropped, 0) << host;
        EXPECT_EQ(totals.written, totals.collected) << host << ": every sample confirmed";
    }
    EXPECT_EQ(c->stop(), 0);
}

// The broker is away, the agent collects for 10 s and is SIGKILLed; restarted, it sends what
// the dead process spooled, under the same ids. Every round collected before the kill is
// stored, exactly once.
TEST_F(Chaos, AgentKilledDuringAnOutageResendsItsSpoolAfterRestart) {
    auto c = controller();
    const std::string spool = folder_.path("killed.spool");
    auto a = agent_with_spool("chaos-killed", spool);
    ASSERT_TRUE(wait_for(
        [&] { return timestamps("chaos-killed", "system.memory.limit").size() >= 3; }, 30s));
    const int64_t first = timestamps("chaos-killed", "system.memory.limit").front();
    run_command(broker("stop"));
    std::this_thread::sleep_for(10s);
    a->signal(SIGKILL);
    a->wait();
    const int64_t killed_at = now_ns();
    a = agent_with_spool("chaos-killed", spool);  // back before the broker: spools more
    std::this_thread::sleep_for(3s);
    start_broker();
    ASSERT_TRUE(wait_for([&] { return dmonctl("health", "chaos-killed").exit_code == 0; }, 60s));
    std::this_thread::sleep_for(2s);
    const int64_t stopped_at = now_ns();
    EXPECT_EQ(a->stop(), 0);
    wait_until_settled("chaos-killed");
    const auto before_kill = rounds("chaos-killed", first, killed_at - 1'000'000'000);
    EXPECT_GE(before_kill.size(), 12u);
    EXPECT_EQ(missing(before_kill), 0) << "rounds collected before the SIGKILL went missing";
    const auto after_restart = rounds("chaos-killed", killed_at + 2'000'000'000, stopped_at);
    EXPECT_EQ(missing(after_restart), 0);
    EXPECT_GE(after_restart.size(), 3u);
    const std::string log = read_text(folder_.path("chaos-killed.log"));
    EXPECT_NE(log.find("from before: sending them first"), std::string::npos) << log;
    EXPECT_EQ(last_totals("chaos-killed").dropped, 0);
    EXPECT_EQ(c->stop(), 0);
    // The controller's log says what happened to its connection, not "unexpected protocol state".
    const std::string controller_log = read_text(folder_.path("controller.log"));
    EXPECT_NE(controller_log.find("the broker closed the connection: 320 CONNECTION_FORCED"),
              std::string::npos)
        << controller_log;
    EXPECT_EQ(controller_log.find("unexpected protocol state"), std::string::npos)
        << controller_log;
}

// A memory alarm blocks publishers for 20 s: the agent keeps collecting, and SIGTERM ends it
// within shutdown_timeout (10 s) plus a second although the broker never confirms. After the
// alarm clears and the agent restarts, every round is stored.
TEST_F(Chaos, AMemoryAlarmNeitherStopsCollectionNorHoldsUpShutdown) {
    auto c = controller();
    const std::string spool = folder_.path("alarm.spool");
    auto a = agent_with_spool("chaos-alarm", spool);
    ASSERT_TRUE(wait_for(
        [&] { return timestamps("chaos-alarm", "system.memory.limit").size() >= 3; }, 30s));
    const int64_t first = timestamps("chaos-alarm", "system.memory.limit").front();
    auto alarm = run_command(broker("ctl set_vm_memory_high_watermark 0.000001"));
    ASSERT_EQ(alarm.exit_code, 0) << alarm.output;
    std::this_thread::sleep_for(20s);
    const auto health = dmonctl("health", "chaos-alarm");
    EXPECT_EQ(health.exit_code, 1) << health.output;
    EXPECT_NE(read_text(folder_.path("chaos-alarm.log")).find("blocks publishers"),
              std::string::npos)
        << read_text(folder_.path("chaos-alarm.log"));
    const auto asked = std::chrono::steady_clock::now();
    a->signal(SIGTERM);
    a->wait();
    const auto took = std::chrono::steady_clock::now() - asked;
    EXPECT_LT(took, 11s) << "stopping took "
                         << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                         << " ms";
    const int64_t stopped_at = now_ns();
    run_command(broker("ctl set_vm_memory_high_watermark 0.4"));
    a = agent_with_spool("chaos-alarm", spool);
    ASSERT_TRUE(wait_for([&] { return dmonctl("health", "chaos-alarm").exit_code == 0; }, 60s))
        << dmonctl("health", "chaos-alarm").output;
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(a->stop(), 0);
    wait_until_settled("chaos-alarm");
    const auto stored = rounds("chaos-alarm", first, stopped_at - 1'000'000'000);
    EXPECT_GE(stored.size(), 22u);
    EXPECT_EQ(missing(stored), 0) << "rounds collected during the alarm went missing";
    EXPECT_EQ(c->stop(), 0);
}

// The broker is away and the spool sits on a 1 MiB tmpfs that another program fills: rounds
// that cannot be spooled are counted as dropped (reason disk_full) and the agent keeps running;
// once space returns, rounds are spooled again by themselves, and delivered when the broker is
// back.
TEST_F(Chaos, AFullDiskUnderTheSpoolDropsCountedAndRecovers) {
    const std::string mount_point = folder_.path("tiny");
    std::filesystem::create_directories(mount_point);
    if (::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=1m") != 0)
        GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
    struct Unmount {
        std::string path;
        ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
    } unmount{mount_point};
    auto c = controller();
    auto a = agent_with_spool("chaos-full", mount_point + "/spool");
    ASSERT_TRUE(
        wait_for([&] { return timestamps("chaos-full", "system.memory.limit").size() >= 3; }, 30s));
    run_command(broker("stop"));
    std::this_thread::sleep_for(2s);
    {  // fill what is left of the tmpfs
        std::ofstream filler(mount_point + "/filler", std::ios::binary);
        const std::string block(4096, 'f');
        while (filler.write(block.data(), block.size()) && filler.flush()) {
        }
    }
    const int64_t filled_at = now_ns();
    std::this_thread::sleep_for(5s);
    EXPECT_TRUE(a->running()) << "the agent died of a full disk";
    const auto health = dmonctl("health", "chaos-full");
    EXPECT_EQ(health.exit_code, 2) << health.output;  // data is being dropped now
    std::filesystem::remove(mount_point + "/filler");
    const int64_t freed_at = now_ns();
    std::this_thread::sleep_for(4s);  // these rounds are spooled again
    const int64_t back_at = now_ns();
    start_broker();
    ASSERT_TRUE(wait_for(
        [&] { return rounds("chaos-full", back_at + 1'500'000'000, now_ns()).size() >= 2; }, 60s))
        << read_text(folder_.path("chaos-full.log"));
    EXPECT_EQ(a->stop(), 0);
    wait_until_settled("chaos-full");
    const Totals totals = last_totals("chaos-full");
    EXPECT_GT(totals.dropped, 0);
    const std::string log = read_text(folder_.path("chaos-full.log"));
    EXPECT_NE(log.find("(dmon.sink.dropped{reason=disk_full})"), std::string::npos) << log;
    // The rounds that found no room are the ones missing; those spooled after it are there.
    EXPECT_LT(rounds("chaos-full", filled_at + 1'000'000'000, freed_at - 1'000'000'000).size(), 2u);
    const auto after = rounds("chaos-full", freed_at + 1'500'000'000, back_at);
    EXPECT_GE(after.size(), 2u);
    EXPECT_EQ(missing(after), 0);
    EXPECT_EQ(c->stop(), 0);
}

// A record in the middle of the spool is damaged on disk: it is reported once, with where it
// was, and the records after it are delivered.
TEST_F(Chaos, ACorruptSpoolRecordIsSkippedOnceAndTheRestDelivered) {
    auto c = controller();
    wait_until_consuming();
    run_command(broker("stop"));
    const std::string spool = folder_.path("corrupt.spool");
    auto a = agent_with_spool("chaos-corrupt", spool);
    std::this_thread::sleep_for(8s);
    a->signal(SIGKILL);
    a->wait();
    // Walk the records (16-byte header, length at byte 4) and damage the third one's payload.
    std::vector<std::filesystem::path> segments;
    for (const auto& entry : std::filesystem::directory_iterator(spool)) {
        if (entry.path().extension() == ".seg")
            segments.push_back(entry.path());
    }
    ASSERT_EQ(segments.size(), 1u);
    std::string data = read_text(segments[0].string());
    std::vector<size_t> starts;
    for (size_t at = 0; at + 16 <= data.size();) {
        uint32_t length = 0;
        std::memcpy(&length, data.data() + at + 4, 4);
        starts.push_back(at);
        at += 16 + length;
    }
    ASSERT_GE(starts.size(), 6u);
    {
        std::fstream file(segments[0], std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(static_cast<std::streamoff>(starts[2] + 40));
        file.put('\x7f');
    }
    start_broker();
    a = agent_with_spool("chaos-corrupt", spool);
    ASSERT_TRUE(wait_for([&] { return dmonctl("health", "chaos-corrupt").exit_code == 0; }, 60s));
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(a->stop(), 0);
    wait_until_settled("chaos-corrupt");
    const std::string log = read_text(folder_.path("chaos-corrupt.log"));
    EXPECT_EQ(count(log, "a checksum mismatch; skipped"), 1u) << log;
    EXPECT_NE(log.find("at byte " + std::to_string(starts[2]) + ": a checksum mismatch"),
              std::string::npos)
        << log;
    // Every spooled record but the damaged one arrived: rounds 1, 2, 4, 5, ... of the spool.
    const auto stored = timestamps("chaos-corrupt", "system.memory.limit");
    ASSERT_GE(stored.size(), starts.size() - 1);
    EXPECT_EQ(missing(std::vector<int64_t>(stored.begin(),
                                           stored.begin() + static_cast<long>(starts.size()) - 1)),
              1);
    EXPECT_EQ(c->stop(), 0);
}

}  // namespace
}  // namespace dmon::test
