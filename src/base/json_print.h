/*
 * json_print.h — cJSON trees to text, byte for byte what
 * cJSON_PrintUnformatted writes, in a fraction of its time; and text to
 * the trees cJSON_ParseWithLength makes (json_parse.c).
 *
 * cJSON's printer grows its output through the allocator hooks and formats
 * every string twice (a counting pass, then a copy); on tb_span_end's path
 * and in the OTLP encoder it was a third of the time. This one writes
 * into a tb__buf the caller reuses. Numbers that are not ints are rare in
 * span data and are handed to cJSON itself, so they cannot differ;
 * tests/fuzz/fuzz_record.c holds every other byte against cJSON's output.
 */
#ifndef TRACEBOX_JSON_PRINT_H
#define TRACEBOX_JSON_PRINT_H

#include "internal.h"

#include <cjson/cJSON.h>

/* Append item's JSON text to b. Where cJSON_PrintUnformatted would fail (an
 * invalid item, a raw item without text) or memory runs out, b->failed is
 * set. */
void tb__json_write(tb__buf *b, const cJSON *item);
/* Append s as a JSON string, quoted and escaped as cJSON does (NULL: ""). */
void tb__json_write_str(tb__buf *b, const char *s);
/* item's JSON text as a new string (tb__malloc'd: free with tb__free_mem or
 * cJSON_free), or NULL as cJSON_PrintUnformatted would return it. */
char *tb__json_print(const cJSON *item);

/* The tree cJSON_ParseWithLength(text, len) makes, or NULL where it fails
 * (json_parse.c). Its memory comes from cJSON's allocation hook: inside
 * tb__json_pool_begin/_end from the pool; free it with cJSON_Delete as any
 * cJSON tree. */
cJSON *tb__json_parse(const char *text, size_t len);
/* The tree cJSON_Parse(s) makes: s with its NUL, which cJSON reads as one
 * more byte of white space. */
cJSON *tb__json_parse_str(const char *s);
/* tb__json_parse, with its strings and keys decoded in place in `text`
 * (which it overwrites) instead of copied: the tree points into text, which
 * must outlive it. The same tree otherwise, except its type flags: strings
 * are cJSON_IsReference and keys cJSON_StringIsConst, so cJSON_Delete frees
 * the nodes and never the text. A copy (cJSON_Duplicate) of a member keeps
 * pointing to its key in text. */
cJSON *tb__json_parse_insitu(char *text, size_t len);

#endif
