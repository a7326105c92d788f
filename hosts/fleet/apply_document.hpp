#pragma once
// What `fleet apply` writes: the admin's document with this host's own sections kept.
#include <string>
#include <string_view>

namespace dmon::fleet {

// The keys of a config that belong to each host and never come from the fleet: its name, where
// it loads plugins from (plugins come only from local folders) and its control channel (an admin
// cannot add admins, or cut a host off, by sending a config).
inline constexpr const char* kLocalKeys[] = {"node", "plugin_paths", "fleet"};

// The config text to apply and write: `document` (a block-style YAML map without any local key)
// followed by this host's own local-key blocks copied from `local_text`, its current file.
// Returns "" and sets `error` when the document is not YAML, not a map, or holds a local key.
std::string compose_applied_config(std::string_view document, std::string_view local_text,
                                   std::string& error);

}  // namespace dmon::fleet
