#include "dmon/core/plugin_library.hpp"
#include "dmon/core/text.hpp"

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include <cstring>
#include <filesystem>
#include <memory>

#ifdef _WIN32
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>
#else
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>
#endif
#include <cerrno>
#include <cstdio>

namespace dmon::core {
namespace fs = std::filesystem;

#ifdef _WIN32
namespace {
long getpid_portable() {
    return static_cast<long>(GetCurrentProcessId());
}
}  // namespace
#endif

PluginLibrary::PluginLibrary(std::string path, std::shared_ptr<void> handle,
                             const dmon_plugin_descriptor& descriptor, std::string stamp)
    : path_(std::move(path)),
      stamp_(std::move(stamp)),
      handle_(std::move(handle)),
      descriptor_(descriptor) {}

dmon_plugin_descriptor check_descriptor(const dmon_plugin_descriptor* descriptor,
                                        const std::string& where) {
    auto refuse = [&](const std::string& reason) { throw PluginLoadError(where + ": " + reason); };
    if (descriptor == nullptr)
        refuse("dmon_plugin_entry returned no descriptor");
    // Read the major version before trusting the size: both sit in the first 8 bytes.
    if (descriptor->abi_major != DMON_ABI_MAJOR) {
        refuse("built for plugin ABI " + std::to_string(descriptor->abi_major) + "." +
               std::to_string(descriptor->abi_minor) + ", this host speaks ABI " +
               std::to_string(DMON_ABI_MAJOR) + "." + std::to_string(DMON_ABI_MINOR) +
               "; rebuild the plugin against this SDK");
    }
    if (descriptor->struct_size < kMinDescriptorSize) {
        refuse("descriptor is too short (" + std::to_string(descriptor->struct_size) +
               " bytes, ABI 1.0 needs at least " + std::to_string(kMinDescriptorSize) + ")");
    }
    dmon_plugin_descriptor copy{};
    std::memcpy(&copy, descriptor, std::min<size_t>(descriptor->struct_size, sizeof(copy)));
    if (copy.name == nullptr || *copy.name == '\0')
        refuse("descriptor has no name");
    std::vector<std::string> missing;
    if (copy.create == nullptr)
        missing.emplace_back("create");
    if (copy.destroy == nullptr)
        missing.emplace_back("destroy");
    if (copy.kind == DMON_KIND_COLLECTOR) {
        if (copy.collect == nullptr)
            missing.emplace_back("collect");
    } else if (copy.kind == DMON_KIND_SINK) {
        if (copy.write == nullptr)
            missing.emplace_back("write");
    } else {
        refuse("plugin '" + std::string(copy.name) + "' has kind " + std::to_string(copy.kind) +
               ", which this host does not know (1 = collector, 2 = sink)");
    }
    if (!missing.empty()) {
        refuse("plugin '" + std::string(copy.name) +
               "' lacks required callback(s): " + join(missing));
    }
    for (size_t i = 0; i < copy.option_count; ++i) {
        if (copy.options == nullptr || copy.options[i].name == nullptr) {
            refuse("plugin '" + std::string(copy.name) + "' declares an option without a name");
        }
    }
    return copy;
}

PluginCatalog::PluginCatalog(std::vector<std::string> folders) : folders_(std::move(folders)) {}

void PluginCatalog::add_builtin(const std::string& name, const dmon_plugin_descriptor* descriptor) {
    std::lock_guard lock(mutex_);
    builtins_[name] = descriptor;
}

std::string PluginCatalog::default_folder() {
    const fs::path exe = boost::dll::program_location();
    return (exe.parent_path().parent_path() / "lib" / "dmon").lexically_normal().string();
}

std::string PluginCatalog::file_name(const std::string& plugin) {
    return plugin + boost::dll::shared_library::suffix().string();
}

std::shared_ptr<const PluginLibrary> PluginCatalog::load(const std::string& name) {
    {
        std::lock_guard lock(mutex_);
        if (auto it = builtins_.find(name); it != builtins_.end()) {
            return std::make_shared<PluginLibrary>(
                "built-in:" + name, nullptr,
                check_descriptor(it->second, "built-in plugin '" + name + "'"));
        }
    }
    if (name.empty() || name.find_first_of("/\\") != std::string::npos ||
        name.find("..") != std::string::npos) {
        throw PluginLoadError("plugin name '" + name +
                              "' must be a plain name such as proc_cpu, not a path");
    }
    std::string searched;
    for (const auto& folder : folders_) {
        const fs::path candidate = fs::path(folder) / file_name(name);
        std::error_code ec;
        if (fs::is_regular_file(candidate, ec)) {
            auto library = load_file(candidate.string());
            if (library->name() != name) {
                throw PluginLoadError(candidate.string() + ": the file says it is plugin '" +
                                      library->name() + "', not '" + name + "'");
            }
            return library;
        }
        searched += (searched.empty() ? "" : ", ") + folder;
    }
    throw PluginLoadError(
        "unknown plugin '" + name + "': no " + file_name(name) + " in " +
        (searched.empty() ? std::string("(no plugin folders configured)") : searched));
}

namespace {
// Boost.DLL clears dlerror(); ask the loader again for its own words.
std::string explain_load_failure(const std::string& path) {
#ifdef _WIN32
    return "the library could not be loaded (missing dependency or wrong architecture)";
#else
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) {
        ::dlclose(handle);
        return "the library could not be loaded";
    }
    const char* reason = ::dlerror();
    return reason != nullptr ? reason : "the library could not be loaded";
#endif
}
}  // namespace

namespace {

std::string file_stamp(const fs::path& path) {
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    const auto time = fs::last_write_time(path, ec);
    return std::to_string(size) + ":" + std::to_string(time.time_since_epoch().count());
}

#ifdef _WIN32
// Windows: the access lists of the file and the folders above it must not let ordinary users
// (Everyone, Authenticated Users, Users, Interactive) change the file, add files to its folder,
// or rename, delete or re-permission anything on the way. Creating folders in C:\ (which
// Authenticated Users may) does not let them touch what is there, so that right is allowed above.
void check_plugin_trust_windows(const fs::path& path) {
    struct Untrusted {
        const char* sid;
        const char* name;
    };
    static constexpr Untrusted kUntrusted[] = {{"S-1-1-0", "Everyone"},
                                               {"S-1-5-11", "Authenticated Users"},
                                               {"S-1-5-32-545", "Users"},
                                               {"S-1-5-4", "Interactive"}};
    std::error_code ec;
    const fs::path real = fs::absolute(path, ec);
    const fs::path folder = real.parent_path();
    for (fs::path at = real;; at = at.parent_path()) {
        const ACCESS_MASK dangerous =
            at == real     ? FILE_WRITE_DATA | FILE_APPEND_DATA | WRITE_DAC | WRITE_OWNER | DELETE
            : at == folder ? FILE_ADD_FILE | FILE_DELETE_CHILD | WRITE_DAC | WRITE_OWNER | DELETE
                           : FILE_DELETE_CHILD | WRITE_DAC | WRITE_OWNER | DELETE;
        const std::string where =
            path.string() +
            ": refused: " + (at == real ? std::string("the file") : "the folder " + at.string());
        PACL dacl = nullptr;
        PSECURITY_DESCRIPTOR descriptor = nullptr;
        const DWORD rc =
            GetNamedSecurityInfoW(at.c_str(), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, nullptr,
                                  nullptr, &dacl, nullptr, &descriptor);
        if (rc != ERROR_SUCCESS) {
            throw PluginLoadError(where + ": cannot read its access list (Windows error " +
                                  std::to_string(rc) + ")");
        }
        std::unique_ptr<void, decltype(&LocalFree)> owned(descriptor, &LocalFree);
        if (dacl == nullptr)
            throw PluginLoadError(where + " has no access list: anyone may change it");
        // Each "allow" entry for an ordinary-user SID that grants a dangerous right refuses.
        // (Deny entries are not weighed against them: when in doubt, refuse.)
        ACL_SIZE_INFORMATION size{};
        if (!GetAclInformation(dacl, &size, sizeof(size), AclSizeInformation))
            throw PluginLoadError(where + ": cannot check its access list");
        for (DWORD i = 0; i < size.AceCount; ++i) {
            void* ace = nullptr;
            if (!GetAce(dacl, i, &ace))
                throw PluginLoadError(where + ": cannot check its access list");
            const auto* header = static_cast<ACE_HEADER*>(ace);
            if (header->AceType != ACCESS_ALLOWED_ACE_TYPE || (header->AceFlags & INHERIT_ONLY_ACE))
                continue;
            const auto* allowed = static_cast<ACCESS_ALLOWED_ACE*>(ace);
            const ACCESS_MASK mask = allowed->Mask;
            const bool grants =
                (mask & dangerous) != 0 || (mask & (GENERIC_WRITE | GENERIC_ALL)) != 0;
            if (!grants)
                continue;
            PSID sid = const_cast<DWORD*>(&allowed->SidStart);
            for (const auto& untrusted : kUntrusted) {
                PSID known = nullptr;
                if (!ConvertStringSidToSidA(untrusted.sid, &known))
                    throw PluginLoadError(where + ": cannot check its access list");
                const bool same = EqualSid(sid, known) != 0;
                LocalFree(known);
                if (same) {
                    throw PluginLoadError(where + " may be changed by " + untrusted.name +
                                          "; a plugin runs with dmon's rights: give write "
                                          "access to Administrators and SYSTEM only");
                }
            }
        }
        if (at == at.root_path() || at.parent_path() == at)
            break;
    }
}
#endif

// Only files no one else may change are loaded: a plugin runs with the host's rights. After
// the real path is resolved, the file and every folder above it must belong to root or to the
// user dmon runs as, and must not be writable by group or others (a folder with the sticky
// bit, such as /tmp, is allowed when root owns it: others cannot replace what is in it). Any
// check that cannot be made refuses the plugin.
void check_plugin_trust(const fs::path& path) {
#ifndef _WIN32
    std::error_code ec;
    const fs::path real = fs::canonical(path, ec);
    if (ec) {
        throw PluginLoadError(path.string() + ": refused: cannot resolve its real path (" +
                              ec.message() + ")");
    }
    const uid_t self = ::geteuid();
    for (fs::path at = real;; at = at.parent_path()) {
        struct stat info {};
        if (::lstat(at.c_str(), &info) != 0) {
            throw PluginLoadError(path.string() + ": refused: cannot check " + at.string() + " (" +
                                  std::strerror(errno) + ")");
        }
        const char* what = at == real ? "file" : "folder";
        const std::string where =
            path.string() + ": refused: the " + what + (at == real ? "" : " " + at.string());
        if (info.st_uid != 0 && info.st_uid != self) {
            throw PluginLoadError(where + " belongs to another user (uid " +
                                  std::to_string(info.st_uid) +
                                  "); a plugin runs with dmon's rights, so only root or dmon's "
                                  "own user may own it and the folders above it");
        }
        const bool shared_sticky =
            S_ISDIR(info.st_mode) && (info.st_mode & S_ISVTX) != 0 && info.st_uid == 0;
        if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0 && !shared_sticky) {
            char mode[8];
            std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(info.st_mode & 07777));
            throw PluginLoadError(where + " is writable by group or others (mode " + mode +
                                  "); a plugin runs with dmon's rights, so only its owner may "
                                  "change it (chmod go-w)");
        }
        if (at == at.root_path() || at.parent_path() == at)
            break;
    }
#else
    check_plugin_trust_windows(path);
#endif
}

int copy_counter = 0;

// A private temporary folder (mkdtemp: 0700, a name no one can guess), removed with its
// content when this object goes (POSIX; on Windows a loaded DLL cannot be removed, so it stays
// until the next start's temp clean-up).
class PrivateFolder {
  public:
    PrivateFolder() = default;
    ~PrivateFolder() { remove(); }
    PrivateFolder(const PrivateFolder&) = delete;
    PrivateFolder& operator=(const PrivateFolder&) = delete;
    void create() {
#ifndef _WIN32
        std::string pattern = (fs::temp_directory_path() / "dmon-plugin-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw PluginLoadError("cannot create a private folder for a rebuilt plugin: " +
                                  std::string(std::strerror(errno)));
        }
        path_ = pattern;
#else
        path_ = fs::temp_directory_path() / ("dmon-plugin-" + std::to_string(getpid_portable()) +
                                             "-" + std::to_string(copy_counter + 1));
        fs::create_directories(path_);
#endif
    }
    void remove() {
#ifndef _WIN32
        if (!path_.empty()) {
            std::error_code ec;
            fs::remove_all(path_, ec);
            path_.clear();
        }
#endif
    }
    const fs::path& path() const {
        return path_;
    }

  private:
    fs::path path_;
};

}  // namespace

std::shared_ptr<void> PluginCatalog::open_library(const std::string& path,
                                                  const std::string& load_from) {
    auto library = std::make_shared<boost::dll::shared_library>();
    std::error_code ec;
    library->load(fs::path(load_from), boost::dll::load_mode::default_mode, ec);
    if (ec)
        throw PluginLoadError(path + ": " + explain_load_failure(load_from));
    return library;
}

std::shared_ptr<const PluginLibrary> PluginCatalog::load_file(const std::string& path) {
    std::lock_guard lock(mutex_);
    check_plugin_trust(path);
    const std::string stamp = file_stamp(path);
    std::string load_from = path;
    fs::path copy;
    PrivateFolder private_folder;
    if (auto it = loaded_.find(path); it != loaded_.end()) {
        if (auto alive = it->second.lock()) {
            if (alive->stamp() == stamp)
                return alive;
            // The file was rebuilt while instances of the old one still run: the loader would
            // hand back the old mapping for the same path, so load the new file from a copy.
            // The copy goes into a folder only we can enter, made under an unpredictable name,
            // and is checked again before it is loaded.
            private_folder.create();
            copy = private_folder.path() /
                   (std::to_string(++copy_counter) + "-" + fs::path(path).filename().string());
            std::error_code ec;
            fs::copy_file(path, copy, fs::copy_options::overwrite_existing, ec);
            if (ec)
                throw PluginLoadError(
                    path + ": cannot copy the rebuilt file to load it beside the old one: " +
                    ec.message());
            check_plugin_trust(copy);
            load_from = copy.string();
        }
    }
    auto handle = open_library(path, load_from);
#ifndef _WIN32
    private_folder.remove();  // the copy is mapped already; nothing to clean up later
#endif
    auto* library = static_cast<boost::dll::shared_library*>(handle.get());
    if (!library->has(DMON_PLUGIN_ENTRY_SYMBOL)) {
        throw PluginLoadError(
            path + ": not a dmon plugin: it does not export '" DMON_PLUGIN_ENTRY_SYMBOL
                   "' (include <dmon/plugin.h> in the file that defines it, which declares it "
                   "exported and extern \"C\", or use DMON_COLLECTOR / DMON_SINK from "
                   "<dmon/plugin.hpp>; `nm -D` on the file lists what it exports)");
    }
    auto entry = library->get<const dmon_plugin_descriptor*()>(DMON_PLUGIN_ENTRY_SYMBOL);
    const dmon_plugin_descriptor descriptor = check_descriptor(entry(), path);
    auto result = std::make_shared<const PluginLibrary>(path, handle, descriptor, stamp);
    loaded_[path] = result;
    return result;
}

}  // namespace dmon::core
