/* schema.h — the embedded migrations (generated from schema/NNN_*.sql). */
#ifndef TRACEBOX_SCHEMA_H
#define TRACEBOX_SCHEMA_H
#include <stddef.h>
typedef struct tb__migration {
    int version;
    const char *name;
    const char *sql;
} tb__migration;
extern const tb__migration tb__migrations[];
extern const size_t tb__migration_count;
#endif
