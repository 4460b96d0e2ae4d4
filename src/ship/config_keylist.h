/*
 * config_keylist.h — how a built-in exporter writes its key table once and
 * gets both views its vtable carries.
 *
 * A type's keys are one X-list in its own file,
 *     #define WEBHOOK_KEYS(X) X("url", .kind = TB_KEY_URL, .flags = TB_KEY_REQUIRED)
 * each entry a name and the designated initializers of the rest of its
 * tb_config_key (include/tracebox/exporter.h). The list expands into
 *     static const tb_config_key webhook_config_keys[] = {WEBHOOK_KEYS(TB__KEY_SPEC) TB__KEY_END};
 *     static const char *const webhook_keys[] = {WEBHOOK_KEYS(TB__KEY_NAME) NULL};
 * the table the core validates against (vtable.config_keys) and the
 * version-1 list of names (vtable.keys) for whoever reads that field, so
 * the two cannot drift. A user's exporter needs only the first: a plain
 * tb_config_key array.
 */
#ifndef TRACEBOX_CONFIG_KEYLIST_H
#define TRACEBOX_CONFIG_KEYLIST_H

#include "tracebox/exporter.h"

#define TB__KEY_SPEC(name_, ...) {.name = name_, __VA_ARGS__},
#define TB__KEY_NAME(name_, ...) name_,
/* clang-format off */
#define TB__KEY_END {.name = NULL}
/* clang-format on */

#endif
