// A collector fed from outside, as amqp_consume is: each round emits one sample with a
// completion, and counts in `completed` / `failed` what the host says of each (through the
// raw ABI). The isolation test checks that completions cross the worker's socket both ways.
#include <dmon/plugin.h>

#include <cstring>

namespace {

struct Instance {
    const dmon_host_api* api;
    dmon_host* host;
    long rounds = 0;
};

// One per batch, as a consumer keeps one per message (the host tells completions apart by it).
struct Ticket {
    Instance* self;
};

void on_done(void* user, dmon_status status) {
    auto* ticket = static_cast<Ticket*>(user);
    Instance* self = ticket->self;
    delete ticket;
    const char* counter = status == DMON_OK ? "completed" : "failed";
    self->api->count(self->host, dmon_str{counter, std::strlen(counter)}, 1);
}

dmon_status create(const dmon_create_args* args, void** instance, dmon_error*) {
    *instance = new Instance{args->api, args->host};
    return DMON_OK;
}

void destroy(void* instance) {
    delete static_cast<Instance*>(instance);
}

dmon_status collect(void* state, dmon_emitter* emitter, dmon_error*) {
    auto* self = static_cast<Instance*>(state);
    ++self->rounds;
    dmon_sample sample{};
    sample.name = dmon_str{"test.fed", 8};
    sample.value = static_cast<double>(self->rounds);
    sample.type = DMON_GAUGE;
    auto* ticket = new Ticket{self};
    const dmon_status status = self->api->emit_with_completion(
        emitter, &sample, 1, sizeof(sample), dmon_str{"message", 7}, &on_done, ticket);
    if (status != DMON_OK)
        delete ticket;
    return status;
}

const dmon_plugin_descriptor kDescriptor = {
    sizeof(dmon_plugin_descriptor),
    DMON_ABI_MAJOR,
    DMON_ABI_MINOR,
    DMON_KIND_COLLECTOR,
    "test_fed",
    "1.0.0",
    "emits with completion and counts the outcomes (tests)",
    nullptr,
    0,
    0,
    &create,
    &destroy,
    &collect,
    nullptr,
    nullptr,
};

}  // namespace

const dmon_plugin_descriptor* dmon_plugin_entry(void) {
    return &kDescriptor;
}
