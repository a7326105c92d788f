/* A plugin from a future minor version: its descriptor has fields appended that this host
 * does not know. The host reads the part it knows and ignores the rest. */
#include <dmon/plugin.h>

typedef struct future_descriptor {
    dmon_plugin_descriptor known;
    void* (*a_future_callback)(void);
    uint64_t a_future_field;
} future_descriptor;

static dmon_status create(const dmon_create_args* args, void** instance, dmon_error* error) {
    (void)error;
    *instance = (void*)args->api;
    return DMON_OK;
}
static void destroy(void* instance) {
    (void)instance;
}
static dmon_status collect(void* instance, dmon_emitter* emitter, dmon_error* error) {
    const dmon_host_api* api = instance;
    dmon_sample sample = {{"abi.newer", 9}, 0, 0, 2.0, 0, DMON_GAUGE};
    (void)error;
    return api->emit(emitter, &sample, 1, sizeof sample);
}
static const future_descriptor descriptor = {
    .known = {.struct_size = sizeof(future_descriptor),
              .abi_major = DMON_ABI_MAJOR,
              .abi_minor = DMON_ABI_MINOR + 7,
              .kind = DMON_KIND_COLLECTOR,
              .name = "abi_newer_minor",
              .version = "1.7.0",
              .create = create,
              .destroy = destroy,
              .collect = collect},
    .a_future_field = 42,
};
DMON_EXPORT const dmon_plugin_descriptor* dmon_plugin_entry(void) {
    return &descriptor.known;
}
