/*
 * redact.h — replace the inputs and outputs of a record (prompts, model
 * outputs, tool arguments and results, audio) with "[redacted]", for an
 * outbox or a destination configured with `redact = io`.
 */
#ifndef TRACEBOX_REDACT_H
#define TRACEBOX_REDACT_H

#include "internal.h"

#define TB__REDACTED "[redacted]"

/* If the record (SDK export JSON) has fields to redact, *out receives a
 * tb__malloc'd redacted copy (NUL-terminated, *out_len bytes) and 1 is
 * returned; 0 when nothing needed redacting (*out is NULL); -1 when the
 * text is not a JSON object or memory ran out. */
int tb__redact_record(const char *json, size_t len, char **out, size_t *out_len);

#endif
