#pragma once

namespace dmon::host {

// `dmon service install|uninstall|run ...`: the Windows service. On other systems it says so
// and returns 2.
int service_command(int argc, char** argv);

}  // namespace dmon::host
