/*
 * serve_page.h — the read-only web page of `tracebox serve` (GET / and the
 * pages it links to): server-rendered HTML over the public admin API, no
 * build step, no script, no external asset (styles inline).
 */
#ifndef TRACEBOX_SERVE_PAGE_H
#define TRACEBOX_SERVE_PAGE_H

#include <stddef.h>

/* Render the page for a GET of `path` (the URL path, no query; e.g. "/",
 * "/trace/trace_abc") of the outbox at db_path, opened read-only for the
 * call. Returns the HTTP status (200, 404 for a path or trace that is not
 * there, 503 when the outbox cannot be read) and sets *body (malloc'd;
 * the caller free()s it), *len and *type (a static content type, e.g.
 * "text/html; charset=utf-8"). Any thread; no shared state. */
int serve_page(const char *db_path, const char *path, char **body, size_t *len, const char **type);

#endif
