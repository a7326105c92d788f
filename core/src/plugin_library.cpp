#include "dmon/core/plugin_library.hpp"
#include "dmon/core/text.hpp"

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include <cstring>
#include <filesystem>

#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#include <unistd.h>
#endif
#include <cstdio>

namespace dmon::core {
namespace fs = std::filesystem;

namespace {
long getpid_portable() {
#ifdef _WIN32
    return static_cast<long>(GetCurrentProcessId());
#else
    return static_cast<long>(::getpid());
#endif
}
}  // namespace

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

// Only files no one else may change are loaded: a plugin runs with the host's rights.
void check_not_writable_by_others(const fs::path& path, const char* what) {
#ifndef _WIN32
    std::error_code ec;
    const auto permissions = fs::status(path, ec).permissions();
    if (ec)
        return;
    if ((permissions & (fs::perms::group_write | fs::perms::others_write)) != fs::perms::none) {
        char mode[8];
        std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(permissions) & 07777);
        throw PluginLoadError(
            path.string() + ": refused: the " + what + " is writable by group or others (mode " +
            mode +
            "); a plugin runs with dmon's rights, so only its owner may change it (chmod go-w)");
    }
#else
    (void)path;
    (void)what;
#endif
}

int copy_counter = 0;

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
    check_not_writable_by_others(fs::path(path).parent_path(), "folder");
    check_not_writable_by_others(path, "file");
    const std::string stamp = file_stamp(path);
    std::string load_from = path;
    fs::path copy;
    if (auto it = loaded_.find(path); it != loaded_.end()) {
        if (auto alive = it->second.lock()) {
            if (alive->stamp() == stamp)
                return alive;
            // The file was rebuilt while instances of the old one still run: the loader would
            // hand back the old mapping for the same path, so load the new file from a copy.
            copy = fs::temp_directory_path() /
                   ("dmon-plugin-" + std::to_string(getpid_portable()) + "-" +
                    std::to_string(++copy_counter) + "-" + fs::path(path).filename().string());
            std::error_code ec;
            fs::copy_file(path, copy, fs::copy_options::overwrite_existing, ec);
            if (ec)
                throw PluginLoadError(
                    path + ": cannot copy the rebuilt file to load it beside the old one: " +
                    ec.message());
            load_from = copy.string();
        }
    }
    auto handle = open_library(path, load_from);
#ifndef _WIN32
    if (!copy.empty())
        fs::remove(copy);  // mapped already; nothing to clean up later
#endif
    auto* library = static_cast<boost::dll::shared_library*>(handle.get());
    if (!library->has(DMON_PLUGIN_ENTRY_SYMBOL)) {
        throw PluginLoadError(
            path + ": not a dmon plugin: it does not export '" DMON_PLUGIN_ENTRY_SYMBOL "'");
    }
    auto entry = library->get<const dmon_plugin_descriptor*()>(DMON_PLUGIN_ENTRY_SYMBOL);
    const dmon_plugin_descriptor descriptor = check_descriptor(entry(), path);
    auto result = std::make_shared<const PluginLibrary>(path, handle, descriptor, stamp);
    loaded_[path] = result;
    return result;
}

}  // namespace dmon::core
