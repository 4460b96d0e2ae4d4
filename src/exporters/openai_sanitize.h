/*
 * exporters/openai_sanitize.h — what the `openai` destination changes in a
 * record before traces ingest sees it (internal; implemented in
 * openai_sanitize.c).
 *
 * The outbox keeps every record exactly as the SDK exported it, and every
 * other destination gets it that way. Only the copy sent to
 * POST /v1/traces/ingest is adjusted, following the Agents SDK's own
 * exporter (shared/specs/openai-agents-tracing.md §4.3–4.5), because ingest
 * refuses the record otherwise (400, and a refusal is a dead letter):
 *
 *   - response spans: the extension fields span_data.response and
 *     span_data.input (what the SDK's export drops; the bindings capture
 *     them for the other platforms) are removed, so ingest gets exactly
 *     the SDK's own export.
 *   - span_data.input and span_data.output: at most 100 000 bytes each,
 *     measured as the UTF-8 length of the value's compact JSON. A string
 *     keeps its longest prefix that fits (cut between UTF-8 characters) plus
 *     "... [truncated]"; an object or array repeatedly truncates its largest
 *     child to what the budget leaves for it (the first of equal ones), and
 *     removes the child when it cannot shrink; any other value becomes
 *     {"truncated":true,"original_type":…,"preview":…} when that fits.
 *   - generation span_data.usage: input_tokens and output_tokens stay at
 *     the top (both must be numbers, or usage is removed); every other
 *     non-null key moves under usage.details, merged with an existing
 *     details object.
 *   - any other span type: span_data.usage is removed.
 *   - trace metadata: a value that is not a string becomes its compact JSON
 *     text (ingest accepts string values only).
 *
 * Cheap checks come first: a record is parsed only when it is larger than
 * the field limit or mentions "usage", "metadata" or "response"; a record
 * that needs no change is never re-serialized, so it goes out byte for
 * byte.
 */
#ifndef TRACEBOX_OPENAI_SANITIZE_H
#define TRACEBOX_OPENAI_SANITIZE_H

#include <stdbool.h>
#include <stddef.h>

/* Ingest's per-field limit, in bytes of compact JSON. */
#define TB__OPENAI_MAX_FIELD_BYTES ((size_t)100000)
/* What ends a truncated string. */
#define TB__OPENAI_TRUNCATION_SUFFIX "... [truncated]"

/* Results of tb__openai_sanitize_record(). */
#define TB__OPENAI_UNCHANGED 0
#define TB__OPENAI_CHANGED 1
#define TB__OPENAI_NOMEM (-1)

/* Sanitize one record (the SDK export JSON in json[0..len), not necessarily
 * NUL-terminated) for traces ingest.
 *
 * Returns TB__OPENAI_CHANGED (1) with *out = the new compact JSON
 * (NUL-terminated, *out_len bytes; the caller frees it with tb__free_mem),
 * TB__OPENAI_UNCHANGED (0) with *out = NULL when the record goes as it is —
 * this includes text that is not a JSON object, which ingest will refuse on
 * its own — or TB__OPENAI_NOMEM (-1) with *out = NULL when memory ran out.
 * Pure function of its input; any thread. */
int tb__openai_sanitize_record(const char *json, size_t len, char **out, size_t *out_len);

/* The cheap pre-check: false means the record certainly needs no change. */
bool tb__openai_may_need_sanitize(const char *json, size_t len);

#endif
