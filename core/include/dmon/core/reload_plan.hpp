#pragma once

#include <map>
#include <string>
#include <vector>

namespace dmon::core {

// What a reload does to each instance, from the fingerprints of the running set and of the
// new one (key: "collector/NAME" or "sink/NAME"; value: everything that makes the instance
// what it is). Pure, so that the rules are tested on their own:
//   keep:    in both, same fingerprint: keeps running untouched (its schedule, state, queue)
//   add:     only in the new set
//   replace: in both, different fingerprint: a new instance takes over, the old one is drained
//   remove:  only in the running set
// Each list is sorted by key.
struct ReloadPlan {
    std::vector<std::string> keep, add, replace, remove;
};
ReloadPlan plan_reload(const std::map<std::string, std::string>& running,
                       const std::map<std::string, std::string>& wanted);

}  // namespace dmon::core
