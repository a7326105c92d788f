#include "proc_process/reader.hpp"

#include "proc_common/read_file.hpp"

#include <dirent.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace dmon::plugins::proc_process {

ProcessReader::ProcessReader(std::string proc_root, const std::vector<GroupRule>& rules)
    : root_(std::move(proc_root)),
      rules_(rules),
      need_cmdline_(rules_need_cmdline(rules)),
      need_user_(rules_need_user(rules)) {}

std::string ProcessReader::user_name(uint32_t uid) {
    if (auto it = users_.find(uid); it != users_.end())
        return it->second;
    std::string name = std::to_string(uid);  // a uid without a passwd entry is matched by number
    passwd entry{};
    passwd* found = nullptr;
    char text[4096];
    if (::getpwuid_r(uid, &entry, text, sizeof(text), &found) == 0 && found != nullptr)
        name = found->pw_name;
    if (users_.size() >= 4096)
        users_.clear();  // a machine with more users than that: look them up again
    users_.emplace(uid, name);
    return name;
}

std::vector<ProcessReading> ProcessReader::read_all() {
    std::vector<ProcessReading> processes;
    for (const auto& entry : list_folder(root_)) {
        if (entry.empty() || entry.find_first_not_of("0123456789") != std::string::npos)
            continue;
        const std::string folder = root_ + "/" + entry;
        if (try_read_file(folder + "/stat", buffer_) != 0)
            continue;  // exited since the listing
        auto stat = parse_pid_stat(buffer_);
        if (!stat)
            continue;
        ProcessReading process;
        process.stat = std::move(*stat);
        if (need_cmdline_) {
            if (try_read_file(folder + "/cmdline", buffer_) != 0)
                continue;
            process.cmdline = parse_cmdline(buffer_);
        }
        if (need_user_) {
            struct stat owner {};
            if (::stat(folder.c_str(), &owner) != 0)
                continue;
            process.user = user_name(owner.st_uid);
        }
        process.group = classify(rules_, process);
        processes.push_back(std::move(process));
    }
    return processes;
}

bool ProcessReader::read_details(ProcessReading& process) {
    const std::string folder = root_ + "/" + std::to_string(process.stat.pid);
    bool refused = false;
    if (const int error = try_read_file(folder + "/io", buffer_); error == 0) {
        process.io = parse_pid_io(buffer_);
    } else {
        refused = error == EACCES || error == EPERM;
    }
    if (DIR* fds = ::opendir((folder + "/fd").c_str())) {
        uint64_t count = 0;
        while (const dirent* entry = ::readdir(fds)) {
            if (entry->d_name[0] != '.')
                ++count;
        }
        ::closedir(fds);
        process.open_fds = count;
    } else {
        refused = refused || errno == EACCES || errno == EPERM;
    }
    return !refused;
}

}  // namespace dmon::plugins::proc_process
