#include "dmon/core/reload_plan.hpp"

namespace dmon::core {

ReloadPlan plan_reload(const std::map<std::string, std::string>& running,
                       const std::map<std::string, std::string>& wanted) {
    ReloadPlan plan;
    for (const auto& [key, print] : wanted) {
        const auto now = running.find(key);
        if (now == running.end())
            plan.add.push_back(key);
        else if (now->second == print)
            plan.keep.push_back(key);
        else
            plan.replace.push_back(key);
    }
    for (const auto& [key, print] : running) {
        if (!wanted.contains(key))
            plan.remove.push_back(key);
    }
    return plan;
}

}  // namespace dmon::core
