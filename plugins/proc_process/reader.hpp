#pragma once
// Reads the processes of a procfs for ProcessGroups: the I/O half, kept apart so that tests run
// it on a folder laid out like /proc.
#include "proc_process/processes.hpp"

#include <map>
#include <string>
#include <vector>

namespace dmon::plugins::proc_process {

class ProcessReader {
  public:
    ProcessReader(std::string proc_root, const std::vector<GroupRule>& rules);

    // stat (and the cmdline and user when a rule needs them) of every process, classified.
    // A process that exits while it is read is left out: it is simply no longer there.
    std::vector<ProcessReading> read_all();

    // Fills io and open_fds. Returns false when the process refused them (another user's,
    // without CAP_SYS_PTRACE): the caller counts it; what was readable stays.
    bool read_details(ProcessReading& process);

  private:
    std::string user_name(uint32_t uid);

    std::string root_;
    const std::vector<GroupRule>& rules_;
    bool need_cmdline_;
    bool need_user_;
    std::map<uint32_t, std::string> users_;  // uid -> name, bounded (see user_name)
    std::string buffer_;
};

}  // namespace dmon::plugins::proc_process
