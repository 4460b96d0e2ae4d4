/*
 * cmd_show.c — `tracebox show TRACE_ID`: a trace and its spans as a tree,
 * drawn as tree(1) draws one (├─ for a child with siblings after it, └─ for
 * the last, │ continuing a parent's line), with type, name, duration, model
 * and tokens, error marks, and each destination's delivery state; --json
 * prints the records instead. Children are in the order they started.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct node {
    int64_t seq, start_us;
    char *span_id, *parent_id, *type, *name, *body;
    double ms;
    bool shown;
} node;

typedef struct show {
    node *nodes;
    size_t n, cap;
    char *workflow, *trace_body;
    bool nomem;
} show;

static char *dup_or_null(const char *s, bool *nomem)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *nomem = true;
    return d;
}

static int add_record(void *ctx, const tb_record *r)
{
    show *sh = ctx;
    if (r->kind && strcmp(r->kind, "trace") == 0) {
        free(sh->workflow);
        free(sh->trace_body);
        sh->workflow = dup_or_null(r->name ? r->name : "", &sh->nomem);
        sh->trace_body = dup_or_null(r->body, &sh->nomem);
        return sh->nomem;
    }
    if (sh->n == sh->cap) {
        size_t cap = sh->cap ? sh->cap * 2 : 32;
        node *g = realloc(sh->nodes, cap * sizeof *g);
        if (!g) {
            sh->nomem = true;
            return 1;
        }
        sh->nodes = g;
        sh->cap = cap;
    }
    node *x = &sh->nodes[sh->n++];
    memset(x, 0, sizeof *x);
    x->seq = r->seq;
    x->span_id = dup_or_null(r->span_id ? r->span_id : "", &sh->nomem);
    x->parent_id = dup_or_null(r->parent_id, &sh->nomem);
    x->type = dup_or_null(r->type ? r->type : "", &sh->nomem);
    x->name = dup_or_null(r->name ? r->name : "", &sh->nomem);
    x->body = dup_or_null(r->body, &sh->nomem);
    int64_t a = 0, b = 0;
    if (r->started_at && tb_parse_time(r->started_at, &a) == 0)
        x->start_us = a;
    if (r->started_at && r->ended_at && tb_parse_time(r->started_at, &a) == 0 &&
        tb_parse_time(r->ended_at, &b) == 0)
        x->ms = (double)(b - a) / 1000.0;
    return sh->nomem;
}

static int by_start(const void *pa, const void *pb)
{
    const node *a = pa, *b = pb;
    if (a->start_us != b->start_us)
        return a->start_us < b->start_us ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static bool is_child(const node *x, const char *parent)
{
    return parent ? (x->parent_id && strcmp(x->parent_id, parent) == 0) : !x->parent_id;
}

static void print_line(const node *x, const char *prefix, const char *branch, bool color)
{
    char extra[256] = "";
    cJSON *body = cJSON_Parse(x->body);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(body, "span_data");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(data, "model");
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(data, "usage");
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(usage, "input_tokens");
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(usage, "output_tokens");
    if (cJSON_IsString(model) && cJSON_IsNumber(in) && cJSON_IsNumber(out))
        snprintf(extra, sizeof extra, "  [%s, %" PRId64 " in / %" PRId64 " out tokens]",
                 model->valuestring, (int64_t)in->valuedouble, (int64_t)out->valuedouble);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(body, "error");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");
    printf("%s%s%-10s %-28s %8.1f ms%s", prefix, branch, x->type, x->name, x->ms, extra);
    if (cJSON_IsString(msg))
        printf("  %s✗ %s%s", color ? "\033[31m" : "", msg->valuestring, color ? "\033[0m" : "");
    printf("\n");
    cJSON_Delete(body);
}

/* The children of `parent` under `prefix` (the bars of the levels above). */
static void print_tree(node *nodes, size_t n, const char *parent, const char *prefix, bool color)
{
    size_t last = n;
    for (size_t i = 0; i < n; i++)
        if (!nodes[i].shown && is_child(&nodes[i], parent))
            last = i;
    for (size_t i = 0; i < n && last < n; i++) {
        node *x = &nodes[i];
        if (x->shown || !is_child(x, parent))
            continue;
        x->shown = true;
        bool is_last = i == last;
        print_line(x, prefix, is_last ? "└─ " : "├─ ", color);
        size_t plen = strlen(prefix);
        char *sub = malloc(plen + 8);
        if (!sub)
            return;
        snprintf(sub, plen + 8, "%s%s", prefix, is_last ? "   " : "│  ");
        print_tree(nodes, n, x->span_id, sub, color);
        free(sub);
    }
}

static int delivery_row(void *ctx, const tb_trace_delivery *r)
{
    (void)ctx;
    printf("  %-14s delivered %lld, pending %lld, dead %lld\n", r->destination,
           (long long)r->delivered, (long long)r->pending, (long long)r->dead);
    return 0;
}

static void show_free(show *sh)
{
    for (size_t i = 0; i < sh->n; i++) {
        free(sh->nodes[i].span_id);
        free(sh->nodes[i].parent_id);
        free(sh->nodes[i].type);
        free(sh->nodes[i].name);
        free(sh->nodes[i].body);
    }
    free(sh->nodes);
    free(sh->workflow);
    free(sh->trace_body);
}

int cmd_show(cli *c)
{
    const char *trace = NULL;
    for (int i = 0; i < c->argc; i++) {
        if (!trace && c->argv[i][0] != '-')
            trace = c->argv[i];
        else
            return cli_fail(EXIT_USAGE,
                            "show: bad argument '%s' (usage: tracebox show TRACE_ID "
                            "[--json])",
                            c->argv[i]);
    }
    if (!trace)
        return cli_fail(EXIT_USAGE, "show: which trace? (usage: tracebox show TRACE_ID; ids are "
                                    "in `tracebox pending` and `tracebox export`)");
    tb_admin *a = cli_admin(c, false);
    if (!a)
        return EXIT_ERR;
    show sh = {0};
    int result = EXIT_OK;
    if (tb_admin_records(a, trace, add_record, &sh) != TB_OK || sh.nomem) {
        result = cli_fail(EXIT_ERR, "show: %s", sh.nomem ? "out of memory" : tb_last_error());
    } else if (!sh.workflow && sh.n == 0) {
        result = cli_fail(EXIT_ERR, "show: no trace %s in %s (see `tracebox export` for ids)",
                          trace, tb_admin_path(a));
    } else if (c->json) {
        if (sh.trace_body)
            printf("%s\n", sh.trace_body);
        for (size_t i = 0; i < sh.n; i++)
            printf("%s\n", sh.nodes[i].body);
    } else {
        qsort(sh.nodes, sh.n, sizeof *sh.nodes, by_start);
        printf("trace %s  \"%s\"  (%zu spans)\n", trace,
               sh.workflow ? sh.workflow : "(trace record not received)", sh.n);
        print_tree(sh.nodes, sh.n, NULL, "", cli_color());
        /* orphans: spans whose parent never arrived */
        for (size_t i = 0; i < sh.n; i++)
            if (!sh.nodes[i].shown) {
                printf("(parent %s not in the outbox)\n", sh.nodes[i].parent_id);
                print_tree(sh.nodes, sh.n, sh.nodes[i].parent_id, "", cli_color());
            }
        printf("\ndelivery:\n");
        if (tb_admin_trace_delivery(a, trace, delivery_row, NULL) != TB_OK)
            result = cli_fail(EXIT_ERR, "show: %s", tb_last_error());
    }
    show_free(&sh);
    tb_admin_close(a);
    return result;
}
