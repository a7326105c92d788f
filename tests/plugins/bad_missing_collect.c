/* A collector without its collect callback: refused, naming the callback. */
#include <dmon/plugin.h>

static dmon_status create(const dmon_create_args* args, void** instance, dmon_error* error) {
    (void)args;
    (void)error;
    *instance = 0;
    return DMON_OK;
}
static void destroy(void* instance) {
    (void)instance;
}

static const dmon_plugin_descriptor descriptor = {
    .struct_size = sizeof(dmon_plugin_descriptor),
    .abi_major = DMON_ABI_MAJOR,
    .abi_minor = DMON_ABI_MINOR,
    .kind = DMON_KIND_COLLECTOR,
    .name = "bad_missing_collect",
    .version = "0.0.1",
    .create = create,
    .destroy = destroy,
};

DMON_EXPORT const dmon_plugin_descriptor* dmon_plugin_entry(void) {
    return &descriptor;
}
