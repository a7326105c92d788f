#pragma once
// `dmonctl fleet ...`: one command to the agents of a fleet through the broker, and their answers
// (docs/operations.md, "Running a fleet").
#include <map>
#include <set>
#include <string>
#include <vector>

namespace dmon::ctl {

// The agents seen answering, with their groups: who is expected to answer next time.
struct Roster {
    std::map<std::string, std::vector<std::string>> groups_by_node;
};
Roster load_roster(const std::string& path);  // empty when absent or unreadable
void save_roster(const std::string& path, const Roster& roster);

// Who a command addresses: exactly one of node (a name or a glob), group, all.
struct Address {
    std::string node;
    std::string group;
    bool all = false;
    std::string routing_key() const;  // control.node.N, control.group.G or control.all
    std::string node_glob() const;    // what the agents filter on ("" = no filter)
};
// The roster's nodes the address reaches.
std::set<std::string> expected_nodes(const Roster& roster, const Address& address);

// `dmonctl fleet ...` with argv as main got it (argv[i] == "fleet" somewhere). Exit status:
// 0 every addressed node answered and succeeded, 1 some failed or did not answer, 2 bad usage.
int fleet_main(int argc, char** argv);

}  // namespace dmon::ctl
