// What an installer does with the data folder (ProgramData\dmon on Windows): the shipped
// configs installed the way dpkg treats conffiles, and the broker password file created once.
// Kept apart from the Windows calls so that the rules are tested on every system.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dmon::host {

struct ConfigUpdate {
    enum class Action {
        installed,    // there was none: the shipped one was copied
        updated,      // it was the previous shipped one, unedited: replaced by the new one
        unchanged,    // it is the shipped one already
        kept_edited,  // edited by an admin: kept (the shipped one did not change)
        kept_edited_new_beside,  // edited: kept, and the changed shipped one written as FILE.new
    };
    std::string file;
    Action action;
};

const char* to_string(ConfigUpdate::Action action);

// Installs every regular file of `shipped` into `data`, keeping an admin's edits: a copy of
// what was shipped last is kept in data/shipped/ to tell an edited config from an old one. An
// edited config is never replaced; when the shipped one changed, it is written as FILE.new for
// the admin to merge. Every write goes through a temporary file and a rename.
std::vector<ConfigUpdate> install_shipped_configs(const std::filesystem::path& shipped,
                                                  const std::filesystem::path& data);

// Writes `content` to `path` unless the file exists (an admin's password is never replaced).
// Returns whether it wrote.
bool create_file_once(const std::filesystem::path& path, const std::string& content);

#ifdef _WIN32
// The data folder holds the broker password and the spool: its access list becomes SYSTEM and
// Administrators, full control, inherited by what it holds, and nothing inherited from above
// (ProgramData lets every user read). Not verified under Wine, which keeps no access list for a
// folder of the Unix file system and shows one made from its Unix mode.
void restrict_to_administrators(const std::filesystem::path& folder);
#endif

}  // namespace dmon::host
