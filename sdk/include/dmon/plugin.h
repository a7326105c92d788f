/*
 * dmon plugin ABI: the only contract between the dmon host and a plugin library.
 *
 * Pure C so that a plugin built with another compiler or standard library still loads.
 * Rules (see docs/plugin-sdk.md):
 *  - A plugin library exports one symbol, dmon_plugin_entry, returning a descriptor.
 *  - Every struct that crosses starts with its own size (struct_size) and, where it is a
 *    top-level table, the ABI major version. Fields are only ever appended; a reader uses a
 *    field only when struct_size says it is there.
 *  - Strings are pointer + length (dmon_str) unless documented as NUL-terminated.
 *  - No exceptions and no C++ types cross. Errors are a status plus a message in dmon_error.
 *  - Each pointer notes its owner and lifetime; each callback notes its thread.
 */
#ifndef DMON_PLUGIN_H
#define DMON_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The major version changes only when an existing field changes meaning or is removed. */
#define DMON_ABI_MAJOR 1
/* The minor version grows when fields are appended or a status gains a meaning; older plugins
 * keep loading. 1.3: DMON_INVALID from collect() drops the round without back-off. */
#define DMON_ABI_MINOR 3

#if defined(_WIN32)
#define DMON_EXPORT __declspec(dllexport)
#else
#define DMON_EXPORT __attribute__((visibility("default")))
#endif

typedef enum dmon_status {
    DMON_OK = 0,
    DMON_ERROR = 1,  /* failed; the host logs the message and backs off / retries */
    DMON_INVALID = 2 /* bad options or input; retrying the same thing will not help */
} dmon_status;

typedef enum dmon_plugin_kind {
    DMON_KIND_COLLECTOR = 1, /* produces samples on a schedule (or when fed from outside) */
    DMON_KIND_SINK = 2       /* takes batches of samples somewhere */
    /* Room for more kinds: a host refuses a kind it does not know, by name. */
} dmon_plugin_kind;

typedef enum dmon_sample_type {
    DMON_GAUGE = 0,  /* a value at a moment */
    DMON_COUNTER = 1 /* monotonic, cumulative since some start; rates are derived at query time */
} dmon_sample_type;

typedef enum dmon_log_level {
    DMON_LOG_TRACE = 0,
    DMON_LOG_DEBUG = 1,
    DMON_LOG_INFO = 2,
    DMON_LOG_WARN = 3,
    DMON_LOG_ERROR = 4
} dmon_log_level;

/* A borrowed string: not NUL-terminated unless stated. */
typedef struct dmon_str {
    const char* data;
    size_t size;
} dmon_str;

typedef struct dmon_label {
    dmon_str key;
    dmon_str value;
} dmon_label;

/* One sample. Arrays of samples are passed with their element size (sample_size), so
 * fields appended later keep old plugins working. */
typedef struct dmon_sample {
    dmon_str name;            /* dotted, e.g. "system.cpu.utilization" */
    const dmon_label* labels; /* label_count entries, in order */
    size_t label_count;
    double value;
    int64_t timestamp_ns; /* ns since the Unix epoch; 0 = "now" (the host fills it in) */
    uint32_t type;        /* dmon_sample_type */
} dmon_sample;

/* Error text a callback may fill in when it returns a status other than DMON_OK.
 * Owned by the host, valid for the duration of the call. Truncate to fit. */
#define DMON_ERROR_CAPACITY 512
typedef struct dmon_error {
    uint32_t struct_size;
    char message[DMON_ERROR_CAPACITY]; /* NUL-terminated */
} dmon_error;

/* Option types a plugin declares; the host parses and validates YAML values before any
 * instance is created, and reports bad ones with file, line and column. */
typedef enum dmon_option_type {
    DMON_OPT_STRING = 0,
    DMON_OPT_INT = 1,
    DMON_OPT_DOUBLE = 2,
    DMON_OPT_BOOL = 3,
    DMON_OPT_DURATION = 4,    /* "500ms", "10s", "5m", "2h", "7d" or a number of seconds */
    DMON_OPT_STRING_LIST = 5, /* a YAML sequence of strings, or one string */
    /* Since 1.2. A YAML mapping from names to strings, or to mappings of strings (one level):
     *   groups: {nginx: "^nginx", db: {name: "^postgres", user: postgres}}
     * read with option_map_size/option_map_item as (key, field, value) entries: a string value
     * is one entry with an empty field, a mapping one entry per field, in the YAML's order.
     * A map option has no default_value (NULL). */
    DMON_OPT_MAP = 6
} dmon_option_type;

typedef struct dmon_option_decl {
    uint32_t struct_size;
    const char* name;          /* NUL-terminated, static */
    uint32_t type;             /* dmon_option_type */
    uint32_t required;         /* 1: the YAML must set it */
    const char* default_value; /* NUL-terminated, static, parsed as YAML would be; NULL: none.
                                  For a list: comma-separated items */
    const char* help;          /* one line for `dmon check` and the docs */
} dmon_option_decl;

typedef struct dmon_host dmon_host;       /* opaque: the host's handle for one instance */
typedef struct dmon_options dmon_options; /* opaque: one instance's validated options */
typedef struct dmon_emitter dmon_emitter; /* opaque: where a collector puts its samples */

/* Called once per emitted batch that carried a completion (see emit_with_completion), when
 * every sink has durably written it (status DMON_OK) or the host gave up on it (DMON_ERROR,
 * e.g. at shutdown). Runs on the emitting instance's own serial context, never concurrently
 * with its other callbacks. */
typedef void (*dmon_completion_fn)(void* user_data, dmon_status status);

/* Services the host gives a plugin. Owned by the host; valid until destroy() returns.
 * Every function is safe to call from any callback of the instance it was given to. */
typedef struct dmon_host_api {
    uint32_t struct_size;
    uint32_t abi_major;

    /* Log one line; the host prefixes it with the instance name. message: borrowed. */
    void (*log)(dmon_host* host, dmon_log_level level, dmon_str message);
    /* Wall-clock time, ns since the Unix epoch. */
    int64_t (*now_ns)(void);

    /* Options: each returns 1 and fills *out when the option has a value (set or default),
     * 0 otherwise. Strings are owned by the host and valid until destroy() returns. */
    int (*option_string)(const dmon_options* options, const char* name, dmon_str* out);
    int (*option_int)(const dmon_options* options, const char* name, int64_t* out);
    int (*option_double)(const dmon_options* options, const char* name, double* out);
    int (*option_bool)(const dmon_options* options, const char* name, int* out);
    int (*option_duration_ns)(const dmon_options* options, const char* name, int64_t* out);
    size_t (*option_list_size)(const dmon_options* options, const char* name);
    int (*option_list_item)(const dmon_options* options, const char* name, size_t index,
                            dmon_str* out);

    /* Hand samples to the host. Only valid during collect(), with the emitter it was given.
     * The host copies everything it needs before returning; samples stay owned by the
     * caller. sample_size = sizeof(dmon_sample) as the plugin was compiled. */
    dmon_status (*emit)(dmon_emitter* emitter, const dmon_sample* samples, size_t count,
                        size_t sample_size);
    /* As emit, but the host calls done(user_data, status) once every sink has durably written
     * these samples (or the host gave up). For sources fed from outside (a broker): acknowledge
     * the input only in done(). `origin` names the input (e.g. an AMQP message_id) so that a
     * sink can recognise a redelivered batch (see dmon_batch.origins); it may be empty and is
     * copied. Only valid during collect(). */
    dmon_status (*emit_with_completion)(dmon_emitter* emitter, const dmon_sample* samples,
                                        size_t count, size_t sample_size, dmon_str origin,
                                        dmon_completion_fn done, void* user_data);
    /* Add delta to one of the instance's own counters (e.g. "dropped", "rejected"). The host
     * reports it in its self-metrics as dmon.plugin.<counter>{instance=...}; a name with a dot
     * names its own family ("consume.rejected" -> dmon.consume.rejected), and one label may
     * follow in braces: "consume.rejected{reason=host_mismatch}". */
    void (*count)(dmon_host* host, dmon_str counter, uint64_t delta);

    /* Since 1.2 (check struct_size before use). Entries of a DMON_OPT_MAP option: 0 when the
     * option is not set. option_map_item fills key, field and value (field empty for a string
     * value), owned by the host until destroy(), and returns 1; 0 past the end. */
    size_t (*option_map_size)(const dmon_options* options, const char* name);
    int (*option_map_item)(const dmon_options* options, const char* name, size_t index,
                           dmon_str* key, dmon_str* field, dmon_str* value);
} dmon_host_api;

/* What create() receives. Owned by the host; pointers inside stay valid until destroy(). */
typedef struct dmon_create_args {
    uint32_t struct_size;
    uint32_t abi_major;
    const dmon_host_api* api;
    dmon_host* host;
    const dmon_options* options;
    dmon_str instance_name; /* the YAML `name:` (default: the plugin name) */
    dmon_str node;          /* this host's node id, the `host` label of every sample */
    /* Since 1.3 (check struct_size before use): DMON_CREATE_* flags. */
    uint32_t flags;
} dmon_create_args;

/* create() is asked by `dmon check`: validate the options and whatever can be checked without
 * a side effect (a URL parses, a folder exists and is writable, a file is readable), and report
 * a problem as create() always does. Do not connect, listen, create, open for writing or
 * migrate anything: the instance is destroyed right after, and collect() / write() are never
 * called on it. A plugin built before 1.3 never sees this flag, so `dmon check` creates its
 * sinks only if it was built for 1.3 or later. */
#define DMON_CREATE_CHECK_ONLY 0x1u

/* Where a run of samples in a batch came from: the `origin` given to emit_with_completion. */
typedef struct dmon_origin {
    dmon_str id;  /* e.g. an AMQP message_id */
    size_t first; /* index of its first sample in the batch */
    size_t count; /* how many samples follow */
} dmon_origin;

/* A batch handed to a sink's write(). Owned by the host, valid only during write(). */
typedef struct dmon_batch {
    uint32_t struct_size;
    const dmon_sample* samples; /* element size: sample_size */
    size_t sample_count;
    size_t sample_size;
    /* Runs of samples that came with an origin id; samples outside them have none. A sink that
     * stores exactly once skips the runs whose id it has already stored. */
    const dmon_origin* origins;
    size_t origin_count;
    /* Since 1.1. The batch's id, e.g. "web-1:amqp:1732468800000000000:42": the host seals a batch
     * once and every retry, and with a spool every restart, hands the same samples under the same
     * id. A sink that stores or forwards exactly once keys on it (amqp_publish sends it as the
     * message_id). Unique per host and sink instance across restarts. Borrowed for write(). */
    dmon_str id;
} dmon_batch;

/* Descriptor flags. */
#define DMON_FLAG_NEEDS_TWO_READINGS                          \
    0x1u /* collector derives values from two reads (e.g. CPU \
             utilisation): `dmon once` primes it first */

/* The plugin's descriptor: static data owned by the plugin, valid while it is loaded.
 *
 * Threading: for one instance, create, collect, write, flush and destroy are never called
 * concurrently (each instance has its own serial context), but different instances may run
 * in parallel on different threads. Shared state between instances needs the plugin's own
 * locking. */
typedef struct dmon_plugin_descriptor {
    uint32_t struct_size; /* sizeof(dmon_plugin_descriptor) as compiled */
    uint32_t abi_major;   /* DMON_ABI_MAJOR as compiled; the host refuses another major */
    uint32_t abi_minor;
    uint32_t kind;                   /* dmon_plugin_kind */
    const char* name;                /* NUL-terminated, static; e.g. "proc_cpu" */
    const char* version;             /* NUL-terminated, static; e.g. "1.2.0" */
    const char* description;         /* NUL-terminated, static, one line */
    const dmon_option_decl* options; /* option_count entries, static */
    size_t option_count;
    uint32_t flags; /* DMON_FLAG_* */

    /* Required. Create one instance from validated options; store it in *instance. */
    dmon_status (*create)(const dmon_create_args* args, void** instance, dmon_error* error);
    /* Required. Release the instance. After it returns, the host never uses it again. */
    void (*destroy)(void* instance);
    /* Required for collectors: take one reading and emit samples through args->api->emit.
     * Return DMON_ERROR when the reading failed for a reason that may pass (a file busy, a
     * server away): the host logs it and backs off, doubling the wait up to 5 minutes.
     * Return DMON_INVALID when this reading's input was unusable (a line that is no number):
     * the host drops the round, counts dmon.plugin.invalid_rounds and logs the message at most
     * once a minute, and runs the next round on schedule without backing off (since 1.3; an
     * older host backs off as for DMON_ERROR). Samples emitted before either are kept.
     * Values must be finite: a NaN or infinite sample is refused and counted
     * (dmon.plugin.refused{reason=not_finite}), as is an emit() with a wrong sample_size. */
    dmon_status (*collect)(void* instance, dmon_emitter* emitter, dmon_error* error);
    /* Required for sinks: write the batch. Return DMON_OK only once it is durable: the next
     * owner has it and a crash of this process cannot lose it (for a broker: the publisher
     * confirm arrived; for a database: the transaction committed; for a file: fsync returned;
     * stdout: written to the descriptor). Otherwise return DMON_ERROR: the host keeps the batch
     * (in its queue or spool) and calls write() again later with the same batch and id. Return
     * DMON_INVALID when the batch can never be written (the receiver refused its content, e.g.
     * an HTTP 400): the host drops it, counts dmon.sink.dropped{reason=refused} and logs the
     * message (a host older than 1.1 retries it like DMON_ERROR). Buffer nothing of your own
     * between calls: queueing, retry and dropping belong to the host. */
    dmon_status (*write)(void* instance, const dmon_batch* batch, dmon_error* error);
    /* Optional for sinks: flush buffered output; called before the host stops the instance. */
    dmon_status (*flush)(void* instance, dmon_error* error);
} dmon_plugin_descriptor;

/* The one symbol a plugin exports. Returns a pointer to static data; never NULL.
 * Declared here with its export attribute and C linkage, so that a definition in a file that
 * includes this header has both whatever it says itself:
 *     const dmon_plugin_descriptor* dmon_plugin_entry(void) { return &my_descriptor; }
 * (The C++ SDK's DMON_COLLECTOR / DMON_SINK macros define it for you.) */
DMON_EXPORT const dmon_plugin_descriptor* dmon_plugin_entry(void);
typedef const dmon_plugin_descriptor* (*dmon_plugin_entry_fn)(void);
#define DMON_PLUGIN_ENTRY_SYMBOL "dmon_plugin_entry"

#ifdef __cplusplus
}
#endif

#endif /* DMON_PLUGIN_H */
