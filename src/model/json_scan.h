/*
 * json_scan.h — a validating JSON scanner that builds no tree.
 *
 * tb__json_scan() checks that the text is one JSON object (RFC 8259, with
 * cJSON's limits: nesting at most 1000 deep, \u escapes whose surrogates
 * pair up) followed by nothing but whitespace, and on the way hands back
 * where the values of some keys are: the members of the top object that a
 * spec names, and, one level down, the members of the objects it names
 * (span_data, error). Nothing is allocated and nothing is copied: a value is
 * a slice of the text, decoded on demand with tb__json_string(). Keys are
 * compared decoded ("\u0069d" is "id"), as a tree parser would.
 *
 * The record codec (record.c) uses it instead of parsing every record into
 * a cJSON tree: ingest pays for one pass over the bytes.
 */
#ifndef TRACEBOX_JSON_SCAN_H
#define TRACEBOX_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

typedef enum tb__jtype {
    TB__J_ABSENT = 0,
    TB__J_STRING,
    TB__J_NUMBER,
    TB__J_OBJECT,
    TB__J_ARRAY,
    TB__J_TRUE,
    TB__J_FALSE,
    TB__J_NULL,
} tb__jtype;

typedef struct tb__jval {
    tb__jtype type;
    const char *at; /* the value's first byte (a string's opening quote) */
    size_t len;     /* its bytes, quotes included */
    bool escaped;   /* a string with a backslash in it */
} tb__jval;

/* The members of one object to capture: keys[i]'s value goes to vals[i]
 * (TB__J_ABSENT when the object lacks it); sub[i], when not NULL, captures
 * the members of that value too if it is an object. dups: refuse a key
 * that appears twice in this object. */
typedef struct tb__jspec {
    const char *const *keys;
    size_t n;
    tb__jval *vals;
    const struct tb__jspec *const *sub;
    bool dups;
} tb__jspec;

typedef enum tb__jscan_result {
    TB__JSCAN_OK = 0,
    TB__JSCAN_SYNTAX,     /* not valid JSON: *where is the byte */
    TB__JSCAN_NOT_OBJECT, /* valid JSON, not an object */
    TB__JSCAN_TRAILING,   /* text after the object: *where */
    TB__JSCAN_DUPLICATE,  /* a key twice in an object with dups: dup holds it */
} tb__jscan_result;

/* Scan text[0, len). *top (may be NULL) is the whole value; dup (dup_size
 * bytes) receives the decoded duplicate key, cut to fit, with control
 * characters made blanks (tb__one_line: it goes into a message). */
tb__jscan_result tb__json_scan(const char *text, size_t len, const tb__jspec *spec, tb__jval *top,
                               size_t *where, char *dup, size_t dup_size);

/* Decode a scanned string value into out (at least v->len bytes; the
 * decoded text is never longer than the slice) and NUL-terminate it.
 * Returns the decoded length; a \u0000 stays in it as a NUL byte, so
 * strlen() stops there as with cJSON. */
size_t tb__json_string(const tb__jval *v, char *out);

#endif
