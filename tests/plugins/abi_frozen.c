/* Built against the frozen ABI 1.0 header (tests/abi/v1.0), not the live one: when the live
 * header grows, this plugin must still load and work. */
#include <dmon/plugin.h>

static dmon_status create(const dmon_create_args* args, void** instance, dmon_error* error) {
    (void)error;
    *instance = (void*)args->api; /* keep the host services for collect */
    return DMON_OK;
}
static void destroy(void* instance) {
    (void)instance;
}
static dmon_status collect(void* instance, dmon_emitter* emitter, dmon_error* error) {
    const dmon_host_api* api = instance;
    dmon_sample sample = {{"abi.frozen", 10}, 0, 0, 1.0, 0, DMON_GAUGE};
    (void)error;
    return api->emit(emitter, &sample, 1, sizeof sample);
}
static const dmon_plugin_descriptor descriptor = {
    .struct_size = sizeof(dmon_plugin_descriptor),
    .abi_major = DMON_ABI_MAJOR,
    .abi_minor = DMON_ABI_MINOR,
    .kind = DMON_KIND_COLLECTOR,
    .name = "abi_frozen",
    .version = "1.0.0",
    .create = create,
    .destroy = destroy,
    .collect = collect,
};
DMON_EXPORT const dmon_plugin_descriptor* dmon_plugin_entry(void) {
    return &descriptor;
}
