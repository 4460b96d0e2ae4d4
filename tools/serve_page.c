/*
 * serve_page.c — the read-only page of `tracebox serve` (serve_page.h).
 *
 * Two pages, rendered on the server into one growing buffer from the
 * public admin API alone, with the outbox opened read-only for the call:
 *
 *   /            the file's figures; per destination its backlog, age, last
 *                error and state; the latest dead letters; the latest
 *                traces, each a link to its own page. Refreshes itself
 *                every 10 s (a meta tag: the page has no script).
 *   /trace/ID    the records of one trace as a tree (parent_id -> children,
 *                each level in the order it started), with a timeline bar
 *                per span, and the trace's delivery state per destination.
 *
 * Everything that comes from the file is escaped on its way into the page
 * (a span name is data an agent chose), and bodies are never copied whole:
 * a record's body is parsed once, in the callback, for the few fields the
 * page shows (the error message, cut to EXCERPT characters, and the
 * model), then let go. A trace of any shape draws in bounded stack: the
 * tree is walked through parent / first-child / next-sibling links, not by
 * recursion, and a parent chain that loops (ids an exporter reused) is cut
 * where the walk finds it. At most MAX_NODES spans are drawn; the page says
 * how many it left out.
 */
#include "serve_page.h"

#include "tracebox.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE_TYPE "text/html; charset=utf-8"
#define MAX_DEAD 50    /* dead letters listed, the latest */
#define MAX_TRACES 50  /* traces listed, the latest */
#define EXCERPT 300    /* characters of an error or reason shown */
#define MAX_NODES 5000 /* spans of one trace drawn */
#define MAX_INDENT 24  /* tree levels indented; deeper ones stay there, numbered */
#define NONE SIZE_MAX

/* ---- the output buffer ---------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t n, cap;
    bool nomem;
} buf;

static void put_n(buf *b, const char *s, size_t n)
{
    if (b->nomem || n == 0)
        return;
    if (n >= SIZE_MAX / 2 - b->n) {
        b->nomem = true;
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->nomem = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void put(buf *b, const char *s)
{
    put_n(b, s, strlen(s));
}

/* Formatted text of the page's own making (numbers, fixed words); what
 * comes from the file goes through esc() or excerpt() instead. */
static void putf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    if ((size_t)k < sizeof tmp) {
        put_n(b, tmp, (size_t)k);
        return;
    }
    char *big = malloc((size_t)k + 1);
    if (!big) {
        b->nomem = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    put_n(b, big, (size_t)k);
    free(big);
}

/* One byte of text, escaped for HTML text and quoted attribute values. */
static void esc_byte(buf *b, char c)
{
    switch (c) {
    case '&':
        put(b, "&amp;");
        break;
    case '<':
        put(b, "&lt;");
        break;
    case '>':
        put(b, "&gt;");
        break;
    case '"':
        put(b, "&quot;");
        break;
    case '\'':
        put(b, "&#39;");
        break;
    default:
        put_n(b, &c, 1);
    }
}

/* At most `max` characters (UTF-8 code points) of s, escaped, and "…" when
 * there was more. NULL is "". */
static void excerpt(buf *b, const char *s, size_t max)
{
    size_t chars = 0;
    for (; s && *s; s++) {
        if (((unsigned char)*s & 0xC0) != 0x80 && chars++ == max) {
            put(b, "…");
            return;
        }
        esc_byte(b, *s);
    }
}

static void esc(buf *b, const char *s)
{
    excerpt(b, s, SIZE_MAX);
}

/* s as one path segment: unreserved characters as they are, the rest %XX. */
static void urlenc(buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            put_n(b, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            put_n(b, e, 3);
        }
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The percent-decoded s (malloc'd), or NULL when it is malformed, holds a
 * NUL, or memory runs out (*nomem then). */
static char *pct_decode(const char *s, bool *nomem)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1), *o = d;
    if (!d) {
        *nomem = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        int hi = hexval(s[i + 1]); /* at worst the terminator: -1 */
        int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
        if (lo < 0 || (hi == 0 && lo == 0)) {
            free(d);
            return NULL;
        }
        *o++ = (char)(hi * 16 + lo);
        i += 2;
    }
    *o = '\0';
    return d;
}

static char *dup0(const char *s, bool *nomem)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *nomem = true;
    return d;
}

/* ---- figures in words -------------------------------------------------- */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* "42s", "3m12s", "5h07m", "2d03h" */
static const char *age(int64_t s, char out[32])
{
    if (s < 0)
        s = 0;
    long long v = (long long)s;
    if (v < 60)
        snprintf(out, 32, "%llds", v);
    else if (v < 3600)
        snprintf(out, 32, "%lldm%02llds", v / 60, v % 60);
    else if (v < 86400)
        snprintf(out, 32, "%lldh%02lldm", v / 3600, (v % 3600) / 60);
    else
        snprintf(out, 32, "%lldd%02lldh", v / 86400, (v % 86400) / 3600);
    return out;
}

/* A duration of microseconds: "0.4 ms", "123 ms", "4.56 s", "3m12s". */
static void duration(buf *b, int64_t us)
{
    char a[32];
    if (us < 0)
        put(b, "—");
    else if (us < 10000)
        putf(b, "%.1f ms", (double)us / 1000.0);
    else if (us < 1000000)
        putf(b, "%.0f ms", (double)us / 1000.0);
    else if (us < 60000000)
        putf(b, "%.2f s", (double)us / 1e6);
    else
        put(b, age(us / 1000000, a));
}

static void bytes(buf *b, int64_t n)
{
    if (n < 0)
        put(b, "?");
    else if (n < 1024)
        putf(b, "%lld B", (long long)n);
    else if (n < 1048576)
        putf(b, "%.1f KiB", (double)n / 1024.0);
    else if (n < 1073741824)
        putf(b, "%.1f MiB", (double)n / 1048576.0);
    else
        putf(b, "%.1f GiB", (double)n / 1073741824.0);
}

/* A stored time: "2025-06-01 12:34:56" with the full value as its tooltip
 * and how long ago (or how soon) it is. NULL: `none`. */
static void when(buf *b, const char *iso, int64_t now, const char *none)
{
    if (!iso) {
        put(b, none);
        return;
    }
    put(b, "<span class=\"t\" title=\"");
    esc(b, iso);
    put(b, "\">");
    size_t n = strlen(iso);
    if (n >= 19 && iso[4] == '-' && iso[10] == 'T') {
        char shown[20];
        memcpy(shown, iso, 19);
        shown[10] = ' ';
        shown[19] = '\0';
        esc(b, shown);
    } else {
        excerpt(b, iso, 40);
    }
    int64_t us = 0;
    char a[32];
    if (tb_parse_time(iso, &us) == 0) {
        int64_t d = (now - us) / 1000000;
        if (d >= 0)
            putf(b, " <span class=\"dim\">(%s ago)</span>", age(d, a));
        else
            putf(b, " <span class=\"dim\">(in %s)</span>", age(-d, a));
    }
    put(b, "</span>");
}

static void trace_link(buf *b, const char *trace_id)
{
    put(b, "<a href=\"/trace/");
    urlenc(b, trace_id);
    put(b, "\">");
}

/* ---- the frame of every page ------------------------------------------- */

static const char style[] =
    "<style>\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;padding:14px 20px;font:13px/1.4 system-ui,-apple-system,'Segoe UI',"
    "Roboto,'DejaVu Sans',sans-serif;color:#1d2330;background:#f6f7f9}\n"
    "h1{font-size:18px;margin:0 0 4px}h1 a{color:inherit;text-decoration:none}\n"
    "h2{font-size:14px;margin:18px 0 6px;color:#39414f}\n"
    ".sub{color:#5b6473;margin:0 0 10px}\n"
    ".dim{color:#7a8391}\n"
    "code,.mono{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,monospace;font-size:12px}\n"
    "a{color:#1a5fb4}\n"
    "table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #dde1e7}\n"
    "th,td{padding:4px 7px;border-bottom:1px solid #e8ebef;text-align:left;vertical-align:top}\n"
    "th{background:#eef1f5;font-weight:600;color:#39414f;white-space:nowrap}\n"
    "td.n,th.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}\n"
    "td.w{word-break:break-word;max-width:360px}\n"
    ".figs{display:flex;flex-wrap:wrap;gap:8px;margin:6px 0}\n"
    ".fig{background:#fff;border:1px solid #dde1e7;border-radius:4px;padding:5px 10px}\n"
    ".fig b{display:block;font-size:15px}\n"
    ".fig.bad{border-color:#e01b24;background:#fff2f2}\n"
    ".st{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;"
    "white-space:nowrap;font-weight:600}\n"
    ".ok{background:#dff5e3;color:#1e6b30}.warn{background:#fff1d6;color:#8a5300}\n"
    ".bad{background:#fde2e2;color:#a51d2d}.idle{background:#e8ebef;color:#4f5866}\n"
    ".alert{color:#a51d2d;font-weight:600}\n"
    ".err{color:#a51d2d}\n"
    ".ty{display:inline-block;min-width:66px;padding:0 5px;margin-right:6px;border-radius:3px;"
    "background:#e6ecf5;color:#2d4a77;font-size:11px;text-align:center}\n"
    ".tree td.nm{word-break:break-word;max-width:560px}\n"
    ".wf{position:relative;height:10px;min-width:220px;background:#f0f2f5;border-radius:2px;"
    "margin-top:4px}\n"
    ".bar{position:absolute;top:0;height:10px;background:#3584e4;border-radius:2px;"
    "min-width:2px}\n"
    ".bar.e{background:#e01b24}\n"
    ".empty{color:#7a8391;font-style:italic;padding:8px;background:#fff;"
    "border:1px solid #dde1e7}\n"
    ".msg{background:#fff;border:1px solid #dde1e7;padding:14px;max-width:900px}\n"
    "</style>\n";

static void head(buf *b, bool refresh)
{
    put(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    if (refresh)
        put(b, "<meta http-equiv=\"refresh\" content=\"10\">\n");
    put(b, "<title>tracebox</title>\n");
    put(b, style);
    put(b, "</head>\n<body>\n<h1><a href=\"/\">tracebox</a></h1>\n");
}

static void foot(buf *b)
{
    put(b, "</body>\n</html>\n");
}

/* A page that is only a message: 404 and 503. */
static void message_page(buf *b, bool refresh, const char *heading, const char *line,
                         const char *detail)
{
    head(b, refresh);
    put(b, "<div class=\"msg\"><h2>");
    esc(b, heading);
    put(b, "</h2><p class=\"err\" id=\"reason\">");
    excerpt(b, line, EXCERPT);
    put(b, "</p>");
    if (detail) {
        put(b, "<p class=\"dim\">");
        esc(b, detail);
        put(b, "</p>");
    }
    put(b, "<p><a href=\"/\">overview</a></p></div>\n");
    foot(b);
}

/* ---- / --------------------------------------------------------------------- */

typedef struct dead_keep {
    char *destination, *reason, *time, *kind, *trace_id, *span_id, *type, *name;
    int64_t seq;
    int http_status;
} dead_keep;

typedef struct overview {
    buf *b;
    int64_t now;
    size_t ndest, ntraces;
    dead_keep dead[MAX_DEAD];
    size_t ndead;
    int64_t dead_total;
    bool nomem;
} overview;

static void dead_free(dead_keep *d)
{
    free(d->destination);
    free(d->reason);
    free(d->time);
    free(d->kind);
    free(d->trace_id);
    free(d->span_id);
    free(d->type);
    free(d->name);
    memset(d, 0, sizeof *d);
}

static int cmp_text(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

/* Later first: by time, then seq (the store writes times in one format). */
static int dead_newer(const dead_keep *a, const tb_dead_row *r)
{
    int c = cmp_text(a->time, r->time);
    if (c)
        return c;
    return (a->seq > r->seq) - (a->seq < r->seq);
}

static int by_newest(const void *pa, const void *pb)
{
    const dead_keep *a = pa, *b = pb;
    int c = cmp_text(b->time, a->time);
    if (c)
        return c;
    if (a->seq != b->seq)
        return a->seq < b->seq ? 1 : -1;
    return cmp_text(a->destination, b->destination);
}

/* Keeps the MAX_DEAD latest dead letters of every destination. */
static int dead_row(void *ctx, const tb_dead_row *r)
{
    overview *o = ctx;
    o->dead_total++;
    size_t slot = o->ndead;
    if (o->ndead == MAX_DEAD) {
        slot = 0;
        for (size_t i = 1; i < MAX_DEAD; i++)
            if (by_newest(&o->dead[i], &o->dead[slot]) > 0)
                slot = i; /* the oldest kept */
        if (dead_newer(&o->dead[slot], r) >= 0)
            return 0;
        dead_free(&o->dead[slot]);
    } else {
        o->ndead++;
    }
    dead_keep *d = &o->dead[slot];
    d->seq = r->seq;
    d->http_status = r->http_status;
    d->destination = dup0(r->destination, &o->nomem);
    d->time = dup0(r->time, &o->nomem);
    d->kind = dup0(r->kind, &o->nomem);
    d->trace_id = dup0(r->trace_id, &o->nomem);
    d->span_id = dup0(r->span_id, &o->nomem);
    d->type = dup0(r->type, &o->nomem);
    d->name = dup0(r->name, &o->nomem);
    /* a reason is one line from a server: keep what is shown, no more */
    if (r->reason) {
        size_t n = strnlen(r->reason, EXCERPT * 4 + 4);
        if ((d->reason = malloc(n + 1)) == NULL)
            o->nomem = true;
        else {
            memcpy(d->reason, r->reason, n);
            d->reason[n] = '\0';
        }
    }
    return o->nomem;
}

static int dest_row(void *ctx, const tb_dest_status *r)
{
    overview *o = ctx;
    buf *b = o->b;
    char a[32];
    const char *state = "healthy", *cls = "ok";
    if (r->auth_failed) {
        state = "auth failed";
        cls = "bad";
    } else if (r->last_error || r->attempts > 0) {
        state = "backing off";
        cls = "warn";
    } else if (r->dead > 0 && r->delivered == 0) {
        state = "refusing records";
        cls = "bad";
    } else if (!r->last_success_at && r->delivered == 0) {
        state = "never shipped";
        cls = "idle";
    }
    if (o->ndest++ == 0)
        put(b, "<table id=\"destinations\">\n<tr><th>destination</th><th>type</th>"
               "<th class=\"n\">pending</th><th class=\"n\">oldest</th>"
               "<th class=\"n\">delivered</th><th class=\"n\">dead</th>"
               "<th class=\"n\">attempts</th><th>last success</th><th>last error</th>"
               "<th>state</th><th>next attempt</th><th>alert</th></tr>\n");
    put(b, "<tr class=\"dest\"><td><b>");
    esc(b, r->name);
    put(b, "</b></td><td>");
    esc(b, r->type);
    putf(b, "</td><td class=\"n\">%lld</td><td class=\"n\">%s</td>", (long long)r->pending,
         r->pending > 0 ? age(r->oldest_pending_age_s, a) : "—");
    putf(b, "<td class=\"n\">%lld</td><td class=\"n%s\">%lld</td><td class=\"n\">%lld</td><td>",
         (long long)r->delivered, r->dead > 0 ? " alert" : "", (long long)r->dead,
         (long long)r->attempts);
    when(b, r->last_success_at, o->now, "never");
    put(b, "</td><td class=\"w err\">");
    if (r->last_error)
        excerpt(b, r->last_error, EXCERPT);
    else
        put(b, "<span class=\"dim\">—</span>");
    putf(b, "</td><td><span class=\"st %s\">%s</span>", cls, state);
    if (r->lease_owner) {
        put(b, "<br><span class=\"dim\">shipping now: ");
        excerpt(b, r->lease_owner, 60);
        put(b, "</span>");
    }
    put(b, "</td><td>");
    if (r->pending == 0 && !r->last_error && !r->auth_failed)
        put(b, "<span class=\"dim\">idle</span>");
    else
        when(b, r->next_attempt_at, o->now, "now");
    put(b, "</td><td class=\"alert\">");
    bool any = false;
    if (r->auth_failed) {
        put(b, "credentials refused");
        any = true;
    }
    if (r->dead > 0) {
        putf(b, "%s%lld dead letter%s", any ? "; " : "", (long long)r->dead,
             r->dead == 1 ? "" : "s");
        any = true;
    }
    if (r->pending > 0 && r->oldest_pending_age_s >= 3600) {
        putf(b, "%sbacklog %s old", any ? "; " : "", age(r->oldest_pending_age_s, a));
        any = true;
    }
    if (!any)
        put(b, "<span class=\"dim\">—</span>");
    put(b, "</td></tr>\n");
    return 0;
}

static int trace_row(void *ctx, const tb_trace_row *r)
{
    overview *o = ctx;
    buf *b = o->b;
    if (!r->trace_id)
        return 0;
    if (o->ntraces++ == 0)
        put(b, "<table id=\"traces\">\n<tr><th>trace</th><th>trace id</th><th>started</th>"
               "<th class=\"n\">duration</th><th class=\"n\">spans</th>"
               "<th class=\"n\">errors</th></tr>\n");
    put(b, "<tr class=\"trace\"><td class=\"w\">");
    trace_link(b, r->trace_id);
    if (r->name)
        excerpt(b, r->name, 120);
    else
        put(b, "<i>(unnamed)</i>");
    put(b, "</a></td><td class=\"mono\">");
    trace_link(b, r->trace_id);
    excerpt(b, r->trace_id, 64);
    put(b, "</a></td><td>");
    when(b, r->started_at, o->now, "—");
    put(b, "</td><td class=\"n\">");
    int64_t s = 0, e = 0;
    if (r->started_at && r->ended_at && tb_parse_time(r->started_at, &s) == 0 &&
        tb_parse_time(r->ended_at, &e) == 0 && e >= s)
        duration(b, e - s);
    else
        put(b, "—");
    putf(b, "</td><td class=\"n\">%lld</td><td class=\"n%s\">%lld</td></tr>\n", (long long)r->spans,
         r->errors > 0 ? " alert" : "", (long long)r->errors);
    return 0;
}

static void figure(buf *b, const char *label, int64_t v, bool is_bytes, bool alarm)
{
    putf(b, "<div class=\"fig%s\"><b>", alarm && v > 0 ? " bad" : "");
    if (is_bytes)
        bytes(b, v);
    else
        putf(b, "%lld", (long long)v);
    putf(b, "</b>%s</div>", label);
}

static void dead_table(buf *b, const overview *o)
{
    if (o->ndead == 0) {
        put(b, "<div class=\"empty\">no dead letters</div>\n");
        return;
    }
    put(b, "<table id=\"dead\">\n<tr><th>time</th><th>destination</th><th class=\"n\">seq</th>"
           "<th class=\"n\">http</th><th>reason</th><th>record</th><th>trace</th><th>span</th>"
           "</tr>\n");
    for (size_t i = 0; i < o->ndead; i++) {
        const dead_keep *d = &o->dead[i];
        put(b, "<tr class=\"deadletter\"><td>");
        when(b, d->time, o->now, "—");
        put(b, "</td><td>");
        esc(b, d->destination);
        putf(b, "</td><td class=\"n\">%lld</td><td class=\"n\">", (long long)d->seq);
        if (d->http_status)
            putf(b, "%d", d->http_status);
        else
            put(b, "—");
        put(b, "</td><td class=\"w err\">");
        excerpt(b, d->reason, EXCERPT);
        put(b, "</td><td class=\"w\">");
        if (!d->kind) {
            put(b, "<span class=\"dim\">(record gone)</span>");
        } else {
            put(b, "<span class=\"ty\">");
            esc(b, d->type ? d->type : d->kind);
            put(b, "</span>");
            excerpt(b, d->name, 80);
        }
        put(b, "</td><td class=\"mono\">");
        if (d->trace_id) {
            trace_link(b, d->trace_id);
            excerpt(b, d->trace_id, 40);
            put(b, "</a>");
        }
        put(b, "</td><td class=\"mono\">");
        excerpt(b, d->span_id, 40);
        put(b, "</td></tr>\n");
    }
    put(b, "</table>\n");
}

static int render_overview(buf *b, tb_admin *a, const char **why)
{
    overview o = {.b = b, .now = now_us()};
    tb_admin_figures f;
    int status = 200;
    tb_status st = tb_admin_figures_get(a, &f);
    if (st != TB_OK)
        goto fail;
    head(b, true);
    put(b, "<p class=\"sub\">outbox <code>");
    esc(b, tb_admin_path(a));
    putf(b, "</code> · tracebox %s · read-only · refreshes every 10 s</p>\n", tb_version());
    put(b, "<div class=\"figs\" id=\"figures\">");
    figure(b, "records", f.records, false, false);
    figure(b, "file", f.file_bytes, true, false);
    figure(b, "WAL", f.wal_bytes, true, false);
    figure(b, "disk free", f.free_bytes, true, false);
    figure(b, "refused (full)", f.refused_full, false, true);
    figure(b, "dropped (queue)", f.dropped_queue, false, true);
    figure(b, "rejected unnamed", f.rejected_unnamed, false, true);
    figure(b, "purged", f.purged, false, false);
    figure(b, "evicted", f.evicted_delivered, false, false);
    put(b, "</div>\n<h2>Destinations</h2>\n");
    if ((st = tb_admin_status(a, dest_row, &o)) != TB_OK)
        goto fail;
    if (o.ndest)
        put(b, "</table>\n");
    else
        put(b, "<div class=\"empty\">no destinations yet: they appear after the first "
               "shipping pass</div>\n");

    if ((st = tb_admin_dead(a, NULL, dead_row, &o)) != TB_OK || o.nomem)
        goto fail;
    qsort(o.dead, o.ndead, sizeof o.dead[0], by_newest);
    put(b, "<h2>Dead letters");
    if (o.dead_total > (int64_t)o.ndead)
        putf(b, " <span class=\"dim\">(the latest %zu of %lld)</span>", o.ndead,
             (long long)o.dead_total);
    put(b, "</h2>\n");
    dead_table(b, &o);

    putf(b, "<h2>Latest traces</h2>\n");
    if ((st = tb_admin_traces(a, MAX_TRACES, trace_row, &o)) != TB_OK)
        goto fail;
    if (o.ntraces)
        put(b, "</table>\n");
    else
        put(b, "<div class=\"empty\">no traces in the outbox</div>\n");
    foot(b);
    goto done;
fail:
    status = o.nomem ? 500 : 503;
    *why = o.nomem ? "out of memory" : tb_last_error();
done:
    for (size_t i = 0; i < o.ndead; i++)
        dead_free(&o.dead[i]);
    return status;
}

/* ---- /trace/ID ------------------------------------------------------------- */

typedef struct node {
    int64_t seq, start_us, end_us; /* -1: unknown */
    char *span_id, *parent_id, *kind, *type, *name, *err, *detail;
    size_t parent, first, last, next; /* tree links, NONE when absent */
    bool orphan;                      /* a parent_id that is not in the trace */
    bool loop;                        /* its parent chain looped; cut here */
} node;

typedef struct tpage {
    node *v;
    size_t n, cap;
    char *trace_name, *group_id;
    size_t sdk_spans; /* kind 'span': their trace has a trace record too */
    bool have_trace, nomem;
} tpage;

/* The message of a record's error, cut to EXCERPT characters (malloc'd),
 * or NULL: an SDK record's "error" ({"message": …} or anything else), an
 * OTLP span's status of code ERROR. */
static char *error_of(const cJSON *body, bool otlp, bool *nomem)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(body, "error");
    const char *msg = NULL;
    char *printed = NULL;
    if (e && !cJSON_IsNull(e)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
        if (cJSON_IsString(m))
            msg = m->valuestring;
        else if (cJSON_IsString(e))
            msg = e->valuestring;
        else
            msg = printed = cJSON_PrintUnformatted(e);
    } else if (otlp) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(body, "status");
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(s, "code");
        if ((cJSON_IsNumber(code) && code->valueint == 2) ||
            (cJSON_IsString(code) && strcmp(code->valuestring, "STATUS_CODE_ERROR") == 0)) {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(s, "message");
            msg = cJSON_IsString(m) && m->valuestring[0] ? m->valuestring : "error";
        }
    }
    if (!msg)
        return NULL;
    /* keep the characters shown and one more (so "…" still shows) */
    size_t n = 0, chars = 0;
    for (; msg[n]; n++)
        if (((unsigned char)msg[n] & 0xC0) != 0x80 && chars++ == EXCERPT + 1)
            break;
    char *out = malloc(n + 1);
    if (out) {
        memcpy(out, msg, n);
        out[n] = '\0';
    } else {
        *nomem = true;
    }
    cJSON_free(printed);
    return out;
}

/* A generation's model and tokens, in a few words (malloc'd), or NULL. */
static char *detail_of(const cJSON *body, bool *nomem)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(body, "span_data");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(data, "model");
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(data, "usage");
    if (!cJSON_IsString(model)) {
        const cJSON *resp = cJSON_GetObjectItemCaseSensitive(data, "response");
        model = cJSON_GetObjectItemCaseSensitive(resp, "model");
        if (!usage)
            usage = cJSON_GetObjectItemCaseSensitive(resp, "usage");
    }
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(body, "attributes");
    const cJSON *list = cJSON_IsArray(attrs) ? attrs : NULL, *kv = NULL;
    cJSON_ArrayForEach(kv, list)
    {
        /* OTLP: [{"key": "gen_ai.request.model", "value": {"stringValue": …}}] */
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(kv, "key");
        const cJSON *val = cJSON_GetObjectItemCaseSensitive(kv, "value");
        if (!cJSON_IsString(model) && cJSON_IsString(key) &&
            (strcmp(key->valuestring, "gen_ai.request.model") == 0 ||
             strcmp(key->valuestring, "gen_ai.response.model") == 0))
            model = cJSON_GetObjectItemCaseSensitive(val, "stringValue");
    }
    if (!cJSON_IsString(model))
        return NULL;
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(usage, "input_tokens");
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(usage, "output_tokens");
    char text[200];
    if (cJSON_IsNumber(in) && cJSON_IsNumber(out))
        snprintf(text, sizeof text, "%.100s · %lld in / %lld out tokens", model->valuestring,
                 (long long)in->valuedouble, (long long)out->valuedouble);
    else
        snprintf(text, sizeof text, "%.100s", model->valuestring);
    return dup0(text, nomem);
}

static int64_t time_us(const char *iso)
{
    int64_t us = 0;
    return iso && tb_parse_time(iso, &us) == 0 ? us : -1;
}

static int add_record(void *ctx, const tb_record *r)
{
    tpage *t = ctx;
    cJSON *body = r->body ? cJSON_ParseWithLength(r->body, r->body_len) : NULL;
    if (r->kind && strcmp(r->kind, "trace") == 0) {
        t->have_trace = true;
        free(t->trace_name);
        free(t->group_id);
        t->trace_name = dup0(r->name, &t->nomem);
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(body, "group_id");
        t->group_id = cJSON_IsString(g) ? dup0(g->valuestring, &t->nomem) : NULL;
        cJSON_Delete(body);
        return t->nomem;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        node *v = realloc(t->v, cap * sizeof *v);
        if (!v) {
            cJSON_Delete(body);
            t->nomem = true;
            return 1;
        }
        t->v = v;
        t->cap = cap;
    }
    node *x = &t->v[t->n++];
    memset(x, 0, sizeof *x);
    t->sdk_spans += r->kind && strcmp(r->kind, "span") == 0;
    x->seq = r->seq;
    x->start_us = time_us(r->started_at);
    x->end_us = time_us(r->ended_at);
    x->span_id = dup0(r->span_id, &t->nomem);
    x->parent_id = dup0(r->parent_id, &t->nomem);
    x->kind = dup0(r->kind, &t->nomem);
    x->type = dup0(r->type, &t->nomem);
    x->name = dup0(r->name, &t->nomem);
    x->err = error_of(body, r->kind && strcmp(r->kind, "otlp") == 0, &t->nomem);
    x->detail = detail_of(body, &t->nomem);
    cJSON_Delete(body);
    return t->nomem;
}

static void tpage_free(tpage *t)
{
    for (size_t i = 0; i < t->n; i++) {
        node *x = &t->v[i];
        free(x->span_id);
        free(x->parent_id);
        free(x->kind);
        free(x->type);
        free(x->name);
        free(x->err);
        free(x->detail);
    }
    free(t->v);
    free(t->trace_name);
    free(t->group_id);
}

/* In the order they started (unknown starts last), then as stored. */
static int by_start(const void *pa, const void *pb)
{
    const node *a = pa, *b = pb;
    if ((a->start_us < 0) != (b->start_us < 0))
        return a->start_us < 0 ? 1 : -1;
    if (a->start_us != b->start_us)
        return a->start_us < b->start_us ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

typedef struct id_ix {
    const char *span_id;
    size_t i;
} id_ix;

static int by_span_id(const void *pa, const void *pb)
{
    const id_ix *a = pa, *b = pb;
    return cmp_text(a->span_id, b->span_id);
}

static void append_child(node *v, size_t parent, size_t child)
{
    v[child].parent = parent;
    v[child].next = NONE;
    if (v[parent].last == NONE)
        v[parent].first = child;
    else
        v[v[parent].last].next = child;
    v[parent].last = child;
}

static void detach(node *v, size_t child)
{
    size_t p = v[child].parent, prev = NONE;
    for (size_t c = v[p].first; c != NONE && c != child; c = v[c].next)
        prev = c;
    if (prev == NONE)
        v[p].first = v[child].next;
    else
        v[prev].next = v[child].next;
    if (v[p].last == child)
        v[p].last = prev;
    v[child].parent = NONE;
    v[child].next = NONE;
}

/* Links each span to its parent in the trace (children in start order).
 * Returns false when memory runs out. */
static bool link_tree(node *v, size_t n)
{
    id_ix *ix = malloc((n ? n : 1) * sizeof *ix);
    if (!ix)
        return false;
    for (size_t i = 0; i < n; i++) {
        ix[i] = (id_ix){.span_id = v[i].span_id, .i = i};
        v[i].parent = v[i].first = v[i].last = v[i].next = NONE;
    }
    qsort(ix, n, sizeof *ix, by_span_id);
    for (size_t i = 0; i < n; i++) {
        if (!v[i].parent_id)
            continue;
        size_t lo = 0, hi = n, found = NONE;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = cmp_text(ix[mid].span_id, v[i].parent_id);
            if (c == 0) {
                found = ix[mid].i;
                break;
            }
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (found == NONE || found == i)
            v[i].orphan = true;
        else
            append_child(v, found, i);
    }
    free(ix);
    return true;
}

typedef struct span_draw {
    buf *b;
    int64_t t0, t1;
    size_t visited; /* spans walked; the first MAX_NODES are drawn */
    size_t rows;    /* delivery rows */
} span_draw;

static void draw_node(span_draw *d, const node *x, size_t depth)
{
    buf *b = d->b;
    size_t indent = depth < MAX_INDENT ? depth : MAX_INDENT;
    putf(b, "<tr class=\"span%s\"><td class=\"nm\" style=\"padding-left:%zupx\">",
         x->err ? " haserr" : "", 7 + indent * 14);
    if (depth > MAX_INDENT)
        putf(b, "<span class=\"dim\">%zu└ </span>", depth);
    else if (depth)
        put(b, "<span class=\"dim\">└ </span>");
    put(b, "<span class=\"ty\">");
    if (x->type)
        excerpt(b, x->type, 20);
    else
        put(b, "span");
    put(b, "</span><span class=\"spanname\">");
    if (x->name)
        excerpt(b, x->name, 100);
    else
        put(b, "<i>(unnamed)</i>");
    put(b, "</span>");
    if (x->orphan || x->loop) {
        put(b, " <span class=\"dim\">(parent ");
        excerpt(b, x->parent_id, 40);
        put(b, x->loop ? ": a loop of parents, cut here)</span>" : " not in the outbox)</span>");
    }
    put(b, "</td><td class=\"dim\">");
    esc(b, x->kind);
    put(b, "</td><td class=\"n\">");
    duration(b, x->start_us >= 0 && x->end_us >= x->start_us ? x->end_us - x->start_us : -1);
    put(b, "</td><td>");
    if (x->start_us >= 0 && d->t1 > d->t0) {
        double span = (double)(d->t1 - d->t0);
        double left = (double)(x->start_us - d->t0) / span * 100.0;
        double width =
            x->end_us >= x->start_us ? (double)(x->end_us - x->start_us) / span * 100.0 : 0.0;
        if (left > 100.0)
            left = 100.0;
        if (width > 100.0 - left)
            width = 100.0 - left;
        putf(b,
             "<div class=\"wf\"><div class=\"bar%s\" style=\"left:%.2f%%;width:%.2f%%\">"
             "</div></div>",
             x->err ? " e" : "", left, width);
    }
    put(b, "</td><td class=\"w\">");
    if (x->err) {
        put(b, "<span class=\"err\">✗ ");
        excerpt(b, x->err, EXCERPT);
        put(b, "</span>");
        if (x->detail)
            put(b, "<br>");
    }
    if (x->detail) {
        put(b, "<span class=\"dim\">");
        esc(b, x->detail);
        put(b, "</span>");
    }
    put(b, "</td></tr>\n");
}

/* The subtree of `root`, depth first, without recursion. */
static void draw_subtree(span_draw *d, node *v, bool *seen, size_t root)
{
    size_t cur = root, depth = 0;
    for (;;) {
        seen[cur] = true;
        if (d->visited++ < MAX_NODES)
            draw_node(d, &v[cur], depth);
        if (v[cur].first != NONE) {
            cur = v[cur].first;
            depth++;
            continue;
        }
        while (cur != root && v[cur].next == NONE) {
            cur = v[cur].parent;
            depth--;
        }
        if (cur == root)
            return;
        cur = v[cur].next;
    }
}

static int delivery_row(void *ctx, const tb_trace_delivery *r)
{
    span_draw *d = ctx;
    buf *b = d->b;
    if (d->rows++ == 0)
        put(b, "<table id=\"delivery\">\n<tr><th>destination</th><th class=\"n\">delivered</th>"
               "<th class=\"n\">pending</th><th class=\"n\">dead</th><th>state</th></tr>\n");
    put(b, "<tr><td><b>");
    esc(b, r->destination);
    putf(b,
         "</b></td><td class=\"n\">%lld</td><td class=\"n\">%lld</td>"
         "<td class=\"n%s\">%lld</td><td>",
         (long long)r->delivered, (long long)r->pending, r->dead > 0 ? " alert" : "",
         (long long)r->dead);
    if (r->dead > 0)
        put(b, "<span class=\"st bad\">dead letters</span>");
    else if (r->pending > 0)
        put(b, "<span class=\"st warn\">pending</span>");
    else
        put(b, "<span class=\"st ok\">delivered</span>");
    put(b, "</td></tr>\n");
    return 0;
}

static int render_trace(buf *b, tb_admin *a, const char *id, const char **why)
{
    tpage t = {0};
    span_draw d = {.b = b, .t0 = -1, .t1 = -1};
    int status = 200;
    bool *seen = NULL;
    tb_status st = tb_admin_records(a, id, add_record, &t);
    if (st != TB_OK || t.nomem)
        goto fail;
    if (!t.have_trace && t.n == 0) {
        message_page(b, false, "Not found", "no such trace in this outbox", id);
        status = 404;
        goto done;
    }
    qsort(t.v, t.n, sizeof *t.v, by_start);
    if (!(seen = calloc(t.n ? t.n : 1, sizeof *seen)) || !link_tree(t.v, t.n)) {
        t.nomem = true;
        goto fail;
    }
    int64_t errors = 0;
    for (size_t i = 0; i < t.n; i++) {
        const node *x = &t.v[i];
        errors += x->err != NULL;
        if (x->start_us >= 0 && (d.t0 < 0 || x->start_us < d.t0))
            d.t0 = x->start_us;
        int64_t end = x->end_us >= 0 ? x->end_us : x->start_us;
        if (end > d.t1)
            d.t1 = end;
    }
    const char *name = t.trace_name;
    for (size_t i = 0; !name && i < t.n; i++)
        if (t.v[i].parent == NONE)
            name = t.v[i].name;

    head(b, false);
    put(b, "<h2 id=\"tracename\">");
    if (name)
        excerpt(b, name, 200);
    else
        put(b, "<i>(unnamed trace)</i>");
    put(b, "</h2>\n<p class=\"sub\">trace <code id=\"traceid\">");
    esc(b, id);
    put(b, "</code>");
    if (t.group_id) {
        put(b, " · group <code>");
        excerpt(b, t.group_id, 100);
        put(b, "</code>");
    }
    if (d.t0 >= 0) {
        char iso[40];
        time_t sec = (time_t)(d.t0 / 1000000);
        struct tm tm;
        if (gmtime_r(&sec, &tm) && strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
            put(b, " · started ");
            when(b, iso, now_us(), "");
        }
    }
    putf(b, " · %zu span%s", t.n, t.n == 1 ? "" : "s");
    if (errors)
        putf(b, " · <span class=\"alert\">%lld with an error</span>", (long long)errors);
    if (d.t0 >= 0 && d.t1 >= d.t0) {
        put(b, " · ");
        duration(b, d.t1 - d.t0);
    }
    if (!t.have_trace && t.sdk_spans)
        put(b, " · <span class=\"dim\">trace record not received</span>");
    put(b, " · <a href=\"/\">overview</a></p>\n<h2>Spans</h2>\n");
    if (t.n == 0) {
        put(b, "<div class=\"empty\">no spans</div>\n");
    } else {
        put(b, "<table class=\"tree\" id=\"spans\">\n<tr><th>span</th><th>kind</th>"
               "<th class=\"n\">duration</th><th style=\"width:28%\">timeline</th>"
               "<th>error / model</th></tr>\n");
        for (size_t i = 0; i < t.n; i++)
            if (!seen[i] && t.v[i].parent == NONE)
                draw_subtree(&d, t.v, seen, i);
        /* what no root reaches hangs from a parent chain that loops: cut the
         * loop at the earliest such span and draw from there */
        for (size_t i = 0; i < t.n; i++)
            if (!seen[i]) {
                detach(t.v, i);
                t.v[i].loop = true;
                draw_subtree(&d, t.v, seen, i);
            }
        put(b, "</table>\n");
        if (d.visited > MAX_NODES)
            putf(b, "<p class=\"dim\">%zu more spans not drawn</p>\n", d.visited - MAX_NODES);
    }
    put(b, "<h2>Delivery</h2>\n");
    if ((st = tb_admin_trace_delivery(a, id, delivery_row, &d)) != TB_OK)
        goto fail;
    if (d.rows)
        put(b, "</table>\n");
    else
        put(b, "<div class=\"empty\">no destinations yet</div>\n");
    foot(b);
    goto done;
fail:
    status = t.nomem ? 500 : 503;
    *why = t.nomem ? "out of memory" : tb_last_error();
done:
    free(seen);
    tpage_free(&t);
    return status;
}

/* ---- the entry ------------------------------------------------------------ */

int serve_page(const char *db_path, const char *path, char **body, size_t *len, const char **type)
{
    buf b = {0};
    int status = 404;
    const char *why = NULL;
    char *id = NULL, reason[EXCERPT * 4 + 8] = "";
    bool nomem = false, overview_path = path && strcmp(path, "/") == 0;
    *type = PAGE_TYPE;
    if (path && strncmp(path, "/trace/", 7) == 0 && path[7])
        id = pct_decode(path + 7, &nomem);
    if (!overview_path && !id) {
        if (nomem) {
            status = 500;
            why = "out of memory";
        } else {
            message_page(&b, false, "Not found", "nothing here", path);
        }
    } else {
        tb_admin *a = NULL;
        if (!db_path || tb_admin_open(&a, db_path, TB_ADMIN_READONLY) != TB_OK) {
            status = 503;
            why = db_path ? tb_last_error() : "no outbox path";
        } else {
            status = overview_path ? render_overview(&b, a, &why) : render_trace(&b, a, id, &why);
        }
        /* copied now: tb_last_error lives until the next tracebox call */
        if (why)
            snprintf(reason, sizeof reason, "%s", why);
        tb_admin_close(a);
    }
    if (why) {
        /* what was rendered before the failure goes */
        free(b.p);
        b = (buf){0};
        message_page(&b, overview_path,
                     status == 503 ? "Outbox unavailable" : "Something went wrong",
                     reason[0] ? reason : why, NULL);
    }
    free(id);
    if (b.nomem) {
        free(b.p);
        b = (buf){0};
        status = 500;
        put(&b, "out of memory\n");
        *type = "text/plain; charset=utf-8";
    }
    *body = b.p;
    *len = b.n;
    return status;
}
