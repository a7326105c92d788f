/* A complete dmon sink in plain C (C11): appends "name value" lines to a file. It shows the
 * ABI needs no C++: a descriptor, four callbacks, and the host services table. */
#include <dmon/plugin.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct c_sink {
    const dmon_host_api* api; /* host-owned, valid until destroy */
    dmon_host* host;
    FILE* file;
} c_sink;

static const dmon_option_decl options[] = {
    {sizeof(dmon_option_decl), "path", DMON_OPT_STRING, 1, NULL, "the file to append to"},
};

static void set_error(dmon_error* error, const char* text) {
    if (error != NULL)
        snprintf(error->message, sizeof error->message, "%s", text);
}

static dmon_status create(const dmon_create_args* args, void** instance, dmon_error* error) {
    dmon_str path;
    char name[1024];
    c_sink* sink;
    if (!args->api->option_string(args->options, "path", &path) || path.size >= sizeof name) {
        set_error(error, "path is required");
        return DMON_INVALID;
    }
    memcpy(name, path.data, path.size);
    name[path.size] = '\0';
    sink = calloc(1, sizeof *sink);
    if (sink == NULL) {
        set_error(error, "out of memory");
        return DMON_ERROR;
    }
    sink->api = args->api;
    sink->host = args->host;
    /* `dmon check` asks create() to validate only (ABI 1.3): open nothing, create nothing. */
    if (args->struct_size >= offsetof(dmon_create_args, flags) + sizeof args->flags &&
        (args->flags & DMON_CREATE_CHECK_ONLY) != 0) {
        *instance = sink;
        return DMON_OK;
    }
    sink->file = fopen(name, "a");
    if (sink->file == NULL) {
        set_error(error, strerror(errno));
        free(sink);
        return DMON_INVALID;
    }
    *instance = sink;
    return DMON_OK;
}

static void destroy(void* instance) {
    c_sink* sink = instance;
    if (sink->file != NULL)
        fclose(sink->file);
    free(sink);
}

static dmon_status write_batch(void* instance, const dmon_batch* batch, dmon_error* error) {
    c_sink* sink = instance;
    size_t i;
    for (i = 0; i < batch->sample_count; ++i) {
        /* Walk with the host's element size: samples may have grown since this was built. */
        const dmon_sample* sample =
            (const dmon_sample*)((const char*)batch->samples + i * batch->sample_size);
        fprintf(sink->file, "%.*s %.17g\n", (int)sample->name.size, sample->name.data,
                sample->value);
    }
    if (fflush(sink->file) != 0) {
        set_error(error, strerror(errno));
        return DMON_ERROR;
    }
    return DMON_OK;
}

static const dmon_plugin_descriptor descriptor = {
    .struct_size = sizeof(dmon_plugin_descriptor),
    .abi_major = DMON_ABI_MAJOR,
    .abi_minor = DMON_ABI_MINOR,
    .kind = DMON_KIND_SINK,
    .name = "c_sink",
    .version = "1.0.0",
    .description = "appends 'name value' lines to a file, written in C",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .create = create,
    .destroy = destroy,
    .write = write_batch,
};

DMON_EXPORT const dmon_plugin_descriptor* dmon_plugin_entry(void) {
    return &descriptor;
}
