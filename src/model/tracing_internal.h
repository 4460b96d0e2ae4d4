/*
 * tracing_internal.h — what the tracing files share, and nobody else:
 *
 *   processors.c  the processor registry and the fan-out to its hooks
 *   trace.c       tb_trace: start, end, export
 *   span.c        tb_span: start, setters, end, export, its outbox record
 *   span_kinds.c  one constructor per SDK span type, built on tb_span_start
 *
 * A span holds a reference to its trace and reads its fields, so the trace
 * object is defined here; the span object stays inside span.c.
 */
#ifndef TRACEBOX_TRACING_INTERNAL_H
#define TRACEBOX_TRACING_INTERNAL_H

#include "internal.h"

#include <cjson/cJSON.h>

struct tb_trace {
    _Atomic int refs;
    bool noop;
    bool ended;
    char id[256]; /* generated ids are 38 bytes; a caller's may be longer */
    char *workflow_name;
    char *group_id;
    cJSON *metadata; /* object or NULL */
};

/* ---- processors.c ---- */

enum tb__hook {
    TB__HOOK_TRACE_START,
    TB__HOOK_TRACE_END,
    TB__HOOK_SPAN_START,
    TB__HOOK_SPAN_END,
    TB__HOOK_FLUSH
};

/* Call hook `h` of every registered processor (under the registry's read
 * lock, so hooks run concurrently from many threads). Every processor is
 * called even when an earlier one fails; returns the first failure and
 * records it as the thread's last error ("processor <i> <hook>: …"). */
tb_status tb__fan_out(enum tb__hook h, const tb_trace *t, const tb_span *s);

/* ---- trace.c ---- */

/* Parse `json` (may be NULL: *out = NULL) as a JSON object, checking UTF-8
 * first; on failure sets the last error naming `what`. */
tb_status tb__parse_object(const char *json, const char *what, cJSON **out);
/* NULL or valid UTF-8; otherwise sets the last error naming `what`. */
bool tb__valid_text(const char *s, const char *what);

/* ---- span.c: small cJSON builders ---- */

/* A string item, or a JSON null for NULL. */
cJSON *tb__json_str_or_null(const char *s);
/* Adds k -> v to o; on a NULL v (allocation failure) deletes o. v is
 * consumed on every path; returns o or NULL. */
cJSON *tb__json_add(cJSON *o, const char *k, cJSON *v);
/* Parse `json` (NULL gives a JSON null); unparseable text sets *bad. */
cJSON *tb__json_raw_or_null(const char *json, bool *bad);

#endif
