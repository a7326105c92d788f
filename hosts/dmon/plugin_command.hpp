// `dmon plugin info NAME`: what a plugin is and every option it takes, read from the plugin
// file itself, so a plugin author's help lines reach the operator unchanged.
#pragma once

namespace dmon::host {

// argv[1] is "plugin". Returns the process exit status.
int plugin_command(int argc, char** argv);

}  // namespace dmon::host
