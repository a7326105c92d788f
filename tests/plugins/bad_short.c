/* A descriptor that claims to be shorter than ABI 1.0's: refused before any field is trusted. */
#include <dmon/plugin.h>

static const dmon_plugin_descriptor descriptor = {
    .struct_size = 16,
    .abi_major = DMON_ABI_MAJOR,
    .abi_minor = 0,
    .kind = DMON_KIND_COLLECTOR,
};

DMON_EXPORT const dmon_plugin_descriptor* dmon_plugin_entry(void) {
    return &descriptor;
}
