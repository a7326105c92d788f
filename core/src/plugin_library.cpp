#include "dmon/core/plugin_library.hpp"

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include <cstring>
#include <filesystem>

#ifndef _WIN32
#include <dlfcn.h>
#endif

namespace dmon::core {
namespace fs = std::filesystem;

PluginLibrary::PluginLibrary(std::string path, std::shared_ptr<void> handle,
                             const dmon_plugin_descriptor& descriptor)
    : path_(std::move(path)), handle_(std::move(handle)), descriptor_(descriptor) {}

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
        std::string list;
        for (const auto& name : missing)
            list += (list.empty() ? "" : ", ") + name;
        refuse("plugin '" + std::string(copy.name) + "' lacks required callback(s): " + list);
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

std::shared_ptr<const PluginLibrary> PluginCatalog::load_file(const std::string& path) {
    std::lock_guard lock(mutex_);
    if (auto it = loaded_.find(path); it != loaded_.end()) {
        if (auto alive = it->second.lock())
            return alive;
    }
    auto library = std::make_shared<boost::dll::shared_library>();
    std::error_code ec;
    library->load(fs::path(path), boost::dll::load_mode::default_mode, ec);
    if (ec)
        throw PluginLoadError(path + ": " + explain_load_failure(path));
    if (!library->has(DMON_PLUGIN_ENTRY_SYMBOL)) {
        throw PluginLoadError(
            path + ": not a dmon plugin: it does not export '" DMON_PLUGIN_ENTRY_SYMBOL "'");
    }
    auto entry = library->get<const dmon_plugin_descriptor*()>(DMON_PLUGIN_ENTRY_SYMBOL);
    const dmon_plugin_descriptor descriptor = check_descriptor(entry(), path);
    auto result = std::make_shared<const PluginLibrary>(
        path, std::static_pointer_cast<void>(library), descriptor);
    loaded_[path] = result;
    return result;
}

}  // namespace dmon::core
