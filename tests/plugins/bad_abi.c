/* A plugin built for a future ABI major version: the host must refuse it by name. */
#include <dmon/plugin.h>
#include <string.h>

static dmon_status create(const dmon_create_args* args, void** instance, dmon_error* error) {
    (void)args;
    (void)error;
    *instance = 0;
    return DMON_OK;
}
static void destroy(void* instance) {
    (void)instance;
}
static dmon_status collect(void* instance, dmon_emitter* emitter, dmon_error* error) {
    (void)instance;
    (void)emitter;
    (void)error;
    return DMON_OK;
}

DMON_EXPORT const dmon_plugin_descriptor* dmon_plugin_entry(void) {
    static dmon_plugin_descriptor descriptor;
    memset(&descriptor, 0, sizeof descriptor);
    descriptor.struct_size = sizeof descriptor;
    descriptor.abi_major = 99;
    descriptor.kind = DMON_KIND_COLLECTOR;
    descriptor.name = "bad_abi";
    descriptor.version = "0.0.1";
    descriptor.create = create;
    descriptor.destroy = destroy;
    descriptor.collect = collect;
    return &descriptor;
}
