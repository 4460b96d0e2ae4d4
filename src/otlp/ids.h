/*
 * otlp/ids.h — the OTLP trace and span ids of SDK ids (internal; encode.h
 * includes it).
 *
 * Ids are deterministic (README "Delivery semantics": a resend carries
 * the same ids):
 *   trace id  = the 16 bytes of the 32 hex digits after "trace_" (or of a
 *               bare 32-hex id); any other id, or an all-zero one, is
 *               hashed: two FNV-1a-64 passes over the whole id string, the
 *               first from the standard offset basis, the second from the
 *               first's result XOR 0x9e3779b97f4a7c15, big-endian.
 *   span id   = the first 16 of the hex digits after "span_" (the SDK's 24
 *               hex digits are uuid4 hex, so these are 60 random bits and
 *               the OTLP id is a visible prefix of the SDK id); any other
 *               id, or an all-zero prefix, is FNV-1a-64 of the whole id.
 *   parent    = the parent's span id by the same rule; a span whose
 *               parent_id is null is a root and has no parent_span_id.
 * The full SDK ids are kept in tracebox.sdk_trace_id / tracebox.sdk_span_id.
 * Both calls are pure: any thread. NULL is taken as "".
 */
#ifndef TRACEBOX_OTLP_IDS_H
#define TRACEBOX_OTLP_IDS_H

#include <stdint.h>

void tb__otlp_trace_id(const char *sdk_trace_id, uint8_t out[16]);
void tb__otlp_span_id(const char *sdk_span_id, uint8_t out[8]);
/* A 64-bit hash of an id, for tables of ids in memory (not an OTLP id:
 * it may change between versions). */
uint64_t tb__otlp_id_hash(const char *id);

#endif
