// Collectors written against the raw C ABI that each get one thing wrong, the way a third-party
// author's first plugin might: the host must name the plugin and what went wrong, count it, and
// (in process) survive what can be survived. One of TEST_* selects the mistake; every variant
// also emits one good sample per round (test.alive) so a test can tell a kept round.
#include <dmon/plugin.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

#if defined(TEST_NAN)
constexpr const char* kName = "test_nan";
#elif defined(TEST_BAD_SIZE)
constexpr const char* kName = "test_bad_size";
#elif defined(TEST_RAW_THROW)
constexpr const char* kName = "test_raw_throw";
#elif defined(TEST_INVALID)
constexpr const char* kName = "test_invalid";
#elif defined(TEST_SEGFAULT)
constexpr const char* kName = "test_segfault";
#elif defined(TEST_ABORT)
constexpr const char* kName = "test_abort";
#elif defined(TEST_HANG)
constexpr const char* kName = "test_hang";
#elif defined(TEST_HOG)
constexpr const char* kName = "test_hog";
#endif

struct Instance {
    const dmon_host_api* api;
    long rounds = 0;
    std::vector<char*> kept;
};

dmon_status create(const dmon_create_args* args, void** instance, dmon_error*) {
    *instance = new Instance{args->api};
    return DMON_OK;
}

void destroy(void* instance) {
    delete static_cast<Instance*>(instance);
}

dmon_sample sample(const char* name, double value) {
    dmon_sample s{};
    s.name = dmon_str{name, std::strlen(name)};
    s.value = value;
    s.type = DMON_GAUGE;
    return s;
}

dmon_status collect(void* state, dmon_emitter* emitter, dmon_error* error) {
    auto* self = static_cast<Instance*>(state);
    ++self->rounds;
    const dmon_sample alive = sample("test.alive", static_cast<double>(self->rounds));
    self->api->emit(emitter, &alive, 1, sizeof(alive));
#if defined(TEST_NAN)
    const dmon_sample bad[] = {sample("test.ratio", std::nan("")),
                               sample("test.rate", std::numeric_limits<double>::infinity())};
    self->api->emit(emitter, bad, 2, sizeof(dmon_sample));
#elif defined(TEST_BAD_SIZE)
    // As if built against a header whose dmon_sample were 8 bytes: a mistaken sizeof.
    const dmon_sample wrong = sample("test.wrong_size", 1);
    self->api->emit(emitter, &wrong, 1, 8);
#elif defined(TEST_RAW_THROW)
    // C++ thrown through the C ABI: the wrapper in plugin.hpp would catch it; a raw plugin
    // does not.
    throw std::runtime_error("the parser choked on line 3");
#elif defined(TEST_INVALID)
    std::snprintf(error->message, sizeof(error->message), "input line 7 is not a number");
    return DMON_INVALID;
#elif defined(TEST_SEGFAULT)
    if (self->rounds >= 2) {
        volatile int* nowhere = nullptr;
        *nowhere = 1;
    }
#elif defined(TEST_ABORT)
    if (self->rounds >= 2)
        std::abort();
#elif defined(TEST_HANG)
    // A read from a device that never answers: collect() does not return.
    if (self->rounds >= 2) {
        for (;;)
            std::this_thread::sleep_for(std::chrono::seconds(1));
    }
#elif defined(TEST_HOG)
    // A cache that is never trimmed, growing as fast as it can: memory without bound.
    if (self->rounds >= 2) {
        for (;;) {
            constexpr size_t kChunk = size_t{8} << 20;
            auto* chunk = static_cast<char*>(std::malloc(kChunk));
            if (chunk == nullptr)
                break;
            std::memset(chunk, 1, kChunk);
            self->kept.push_back(chunk);  // kept: the compiler may not drop the allocation
        }
    }
#endif
    (void)error;
    return DMON_OK;
}

const dmon_plugin_descriptor kDescriptor = {
    sizeof(dmon_plugin_descriptor),
    DMON_ABI_MAJOR,
    DMON_ABI_MINOR,
    DMON_KIND_COLLECTOR,
    kName,
    "1.0.0",
    "gets one thing wrong on purpose (tests)",
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

// No extern "C" and no DMON_EXPORT here: plugin.h declares the entry point with both.
const dmon_plugin_descriptor* dmon_plugin_entry(void) {
    return &kDescriptor;
}
