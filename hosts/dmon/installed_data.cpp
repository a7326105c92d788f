#include "installed_data.hpp"

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>

#ifdef _WIN32
#include <windows.h>
// (after windows.h)
#include <aclapi.h>
#include <sddl.h>
#endif

namespace dmon::host {

namespace fs = std::filesystem;

namespace {

// Configs are small: a file over this is not one of ours and is not read whole.
constexpr std::uintmax_t max_config_bytes = 4u << 20;

struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

std::optional<std::string> read_whole(const fs::path& path) {
    std::error_code error;
    if (!fs::is_regular_file(path, error))
        return std::nullopt;
    const auto size = fs::file_size(path, error);
    if (error || size > max_config_bytes)
        throw std::runtime_error("cannot read " + path.string() +
                                 (error ? ": " + error.message() : ": larger than 4 MiB"));
    File in(std::fopen(path.string().c_str(), "rb"));
    if (!in)
        throw std::runtime_error("cannot open " + path.string());
    std::string text(static_cast<std::size_t>(size), '\0');
    if (size != 0 && std::fread(text.data(), 1, text.size(), in.get()) != text.size())
        throw std::runtime_error("cannot read " + path.string());
    return text;
}

void write_replacing(const fs::path& path, const std::string& content) {
    const fs::path temporary = path.string() + ".tmp";
    {
        File out(std::fopen(temporary.string().c_str(), "wb"));
        if (!out)
            throw std::runtime_error("cannot write " + temporary.string());
        if (std::fwrite(content.data(), 1, content.size(), out.get()) != content.size() ||
            std::fflush(out.get()) != 0)
            throw std::runtime_error("cannot write " + temporary.string());
    }
    std::error_code error;
    fs::rename(temporary, path, error);
    if (error) {
        fs::remove(temporary, error);
        throw std::runtime_error("cannot replace " + path.string());
    }
}

}  // namespace

const char* to_string(ConfigUpdate::Action action) {
    switch (action) {
        case ConfigUpdate::Action::installed:
            return "installed";
        case ConfigUpdate::Action::updated:
            return "updated";
        case ConfigUpdate::Action::unchanged:
            return "unchanged";
        case ConfigUpdate::Action::kept_edited:
            return "kept (edited)";
        case ConfigUpdate::Action::kept_edited_new_beside:
            return "kept (edited); the new shipped one is beside it as .new, to merge";
    }
    return "?";
}

std::vector<ConfigUpdate> install_shipped_configs(const fs::path& shipped, const fs::path& data) {
    const fs::path record = data / "shipped";
    fs::create_directories(record);
    std::vector<ConfigUpdate> updates;
    for (const auto& entry : fs::directory_iterator(shipped)) {
        if (!entry.is_regular_file())
            continue;
        const std::string name = entry.path().filename().string();
        const std::string fresh = *read_whole(entry.path());
        const std::optional<std::string> current = read_whole(data / name);
        const std::optional<std::string> last_shipped = read_whole(record / name);
        ConfigUpdate::Action action;
        if (!current) {
            write_replacing(data / name, fresh);
            action = ConfigUpdate::Action::installed;
        } else if (*current == fresh) {
            action = ConfigUpdate::Action::unchanged;
        } else if (last_shipped && *current == *last_shipped) {
            write_replacing(data / name, fresh);
            action = ConfigUpdate::Action::updated;
        } else {
            // Without a record (installed by hand, or by an older installer) an unequal config
            // counts as edited: keeping it is the mistake that loses nothing.
            action = ConfigUpdate::Action::kept_edited;
            if (!last_shipped || *last_shipped != fresh) {
                write_replacing(data / (name + ".new"), fresh);
                action = ConfigUpdate::Action::kept_edited_new_beside;
            }
        }
        write_replacing(record / name, fresh);
        updates.push_back({name, action});
    }
    return updates;
}

bool create_file_once(const fs::path& path, const std::string& content) {
    std::error_code error;
    if (fs::exists(path, error))
        return false;
    write_replacing(path, content);
    return true;
}

#ifdef _WIN32

namespace {

constexpr const wchar_t* administrators_only = L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";

struct LocalMemory {
    void operator()(void* memory) const { LocalFree(memory); }
};

}  // namespace

void restrict_to_administrators(const fs::path& folder) {
    PSECURITY_DESCRIPTOR descriptor = nullptr;
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(administrators_only, SDDL_REVISION_1,
                                                              &descriptor, nullptr))
        throw std::runtime_error("cannot build an access list (error " +
                                 std::to_string(GetLastError()) + ")");
    std::unique_ptr<void, LocalMemory> owned(descriptor);
    BOOL present = FALSE;
    BOOL defaulted = FALSE;
    PACL dacl = nullptr;
    GetSecurityDescriptorDacl(descriptor, &present, &dacl, &defaulted);
    std::wstring path = folder.wstring();
    const DWORD status =
        SetNamedSecurityInfoW(path.data(), SE_FILE_OBJECT,
                              DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                              nullptr, nullptr, dacl, nullptr);
    if (status != ERROR_SUCCESS)
        throw std::runtime_error("cannot restrict " + folder.string() +
                                 " to administrators (error " + std::to_string(status) + ")");
}

#endif

}  // namespace dmon::host
