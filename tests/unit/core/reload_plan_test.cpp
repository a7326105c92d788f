// The reload planner on its own: which instances keep running, start, are replaced or go.
#include "dmon/core/reload_plan.hpp"

#include <gtest/gtest.h>

namespace dmon::core {
namespace {
using Keys = std::vector<std::string>;

TEST(ReloadPlan, SortsEveryInstanceIntoKeepAddReplaceRemove) {
    const std::map<std::string, std::string> running = {
        {"collector/cpu", "proc_cpu 1s"},
        {"collector/disk", "proc_disk 1s"},
        {"collector/mem", "proc_mem 1s"},
        {"sink/amqp", "amqp url=a"},
    };
    const std::map<std::string, std::string> wanted = {
        {"collector/cpu", "proc_cpu 1s"},  // same: kept
        {"collector/mem", "proc_mem 5s"},  // interval changed: replaced
        {"collector/net", "proc_net 1s"},  // new
        {"sink/amqp", "amqp url=a"},       // same
        {"sink/store", "sqlite_store"},    // new
    };
    const ReloadPlan plan = plan_reload(running, wanted);
    EXPECT_EQ(plan.keep, (Keys{"collector/cpu", "sink/amqp"}));
    EXPECT_EQ(plan.add, (Keys{"collector/net", "sink/store"}));
    EXPECT_EQ(plan.replace, (Keys{"collector/mem"}));
    EXPECT_EQ(plan.remove, (Keys{"collector/disk"}));
}

TEST(ReloadPlan, TheSameNameAsCollectorAndSinkAreTwoInstances) {
    const ReloadPlan plan = plan_reload({{"collector/x", "a"}}, {{"sink/x", "a"}});
    EXPECT_EQ(plan.add, (Keys{"sink/x"}));
    EXPECT_EQ(plan.remove, (Keys{"collector/x"}));
    EXPECT_TRUE(plan.keep.empty());
    EXPECT_TRUE(plan.replace.empty());
}

TEST(ReloadPlan, FirstStartAddsEverythingAndAnEmptyFileRemovesEverything) {
    const std::map<std::string, std::string> set = {{"collector/a", "1"}, {"sink/b", "2"}};
    EXPECT_EQ(plan_reload({}, set).add, (Keys{"collector/a", "sink/b"}));
    EXPECT_EQ(plan_reload(set, {}).remove, (Keys{"collector/a", "sink/b"}));
    const ReloadPlan same = plan_reload(set, set);
    EXPECT_EQ(same.keep, (Keys{"collector/a", "sink/b"}));
    EXPECT_TRUE(same.add.empty() && same.replace.empty() && same.remove.empty());
}

}  // namespace
}  // namespace dmon::core
