/* A library that is not a dmon plugin: it exports no dmon_plugin_entry. */
#include <dmon/plugin.h>
DMON_EXPORT int some_other_symbol(void) {
    return 42;
}
