/*
 * cmd_show.c — `tracebox show TRACE_ID`: a trace and its spans as an
 * indented tree (type, name, duration, model and tokens, error marks), with
 * each destination's delivery state; --json prints the records instead.
 */
#include "db_util.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

typedef struct node {
    long long seq;
    char *span_id, *parent_id, *type, *name, *body;
    double ms;
    bool error, shown;
} node;

static double duration_ms(const char *a, const char *b);

static void print_tree(node *nodes, size_t n, const char *parent, int depth, bool color)
{
    for (size_t i = 0; i < n; i++) {
        node *x = &nodes[i];
        if (x->shown)
            continue;
        bool child = parent ? (x->parent_id && strcmp(x->parent_id, parent) == 0) : (!x->parent_id);
        if (!child)
            continue;
        x->shown = true;
        char extra[256] = "";
        cJSON *body = cJSON_Parse(x->body);
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(body, "span_data");
        const cJSON *model = cJSON_GetObjectItemCaseSensitive(data, "model");
        const cJSON *usage = cJSON_GetObjectItemCaseSensitive(data, "usage");
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(usage, "input_tokens");
        const cJSON *out = cJSON_GetObjectItemCaseSensitive(usage, "output_tokens");
        if (cJSON_IsString(model) && cJSON_IsNumber(in) && cJSON_IsNumber(out))
            snprintf(extra, sizeof extra, "  [%s, %d in / %d out tokens]", model->valuestring,
                     in->valueint, out->valueint);
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(body, "error");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");
        printf("%*s%s %-10s %-28s %8.1f ms%s", depth * 2, "", depth ? "└─" : "•", x->type,
               x->name ? x->name : "", x->ms, extra);
        if (cJSON_IsString(msg))
            printf("  %s✗ %s%s", color ? "\033[31m" : "", msg->valuestring, color ? "\033[0m" : "");
        printf("\n");
        cJSON_Delete(body);
        print_tree(nodes, n, x->span_id, depth + 1, color);
    }
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
    sqlite3 *db = cli_db(c);
    if (!db)
        return EXIT_ERR;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT seq, kind, span_id, parent_id, type, name, started_at, "
                                "ended_at, body FROM records WHERE trace_id = ?1 ORDER BY "
                                "started_at, seq",
                                -1, &s, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_close(db);
        return cli_fail(EXIT_ERR, "show: %s", sqlite3_errmsg(db));
    }
    sqlite3_bind_text(s, 1, trace, -1, SQLITE_STATIC);
    node *nodes = NULL;
    size_t n = 0;
    char *workflow = NULL, *trace_body = NULL;
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (strcmp(cli_col(s, 1), "trace") == 0) {
            free(workflow);
            free(trace_body);
            workflow = strdup(cli_col(s, 5));
            trace_body = strdup(cli_col(s, 8));
            continue;
        }
        node *grown = realloc(nodes, (n + 1) * sizeof *nodes);
        if (!grown)
            break;
        nodes = grown;
        node *x = &nodes[n++];
        memset(x, 0, sizeof *x);
        x->seq = sqlite3_column_int64(s, 0);
        x->span_id = strdup(cli_col(s, 2));
        x->parent_id = sqlite3_column_type(s, 3) == SQLITE_NULL ? NULL : strdup(cli_col(s, 3));
        x->type = strdup(cli_col(s, 4));
        x->name = strdup(cli_col(s, 5));
        x->body = strdup(cli_col(s, 8));
        x->ms = duration_ms(cli_col(s, 6), cli_col(s, 7));
    }
    sqlite3_finalize(s);
    int result = EXIT_OK;
    if (!workflow && n == 0) {
        result = cli_fail(EXIT_ERR, "show: no trace %s in %s (see `tracebox export` for ids)",
                          trace, cli_db_path(c));
    } else if (c->json) {
        if (trace_body)
            printf("%s\n", trace_body);
        for (size_t i = 0; i < n; i++)
            printf("%s\n", nodes[i].body);
    } else {
        printf("trace %s  \"%s\"  (%zu spans)\n", trace,
               workflow ? workflow
                        : "(trace record "
                          "not received)",
               n);
        print_tree(nodes, n, NULL, 1, cli_color());
        /* orphans: spans whose parent never arrived */
        for (size_t i = 0; i < n; i++)
            if (!nodes[i].shown) {
                printf("  (parent %s not in the outbox)\n", nodes[i].parent_id);
                print_tree(nodes, n, nodes[i].parent_id, 2, cli_color());
            }
        /* delivery state per destination */
        if (sqlite3_prepare_v2(db,
                               "SELECT d.name, (SELECT count(*) FROM records r WHERE r.trace_id = "
                               "?1 AND r.seq <= d.cursor AND r.seq NOT IN (SELECT seq FROM "
                               "dead_letters x WHERE x.destination = d.name)), (SELECT count(*) "
                               "FROM pending p WHERE p.destination = d.name AND p.trace_id = ?1), "
                               "(SELECT count(*) FROM dead_letters x JOIN records r ON r.seq = "
                               "x.seq WHERE x.destination = d.name AND r.trace_id = ?1) FROM "
                               "destinations d ORDER BY d.name",
                               -1, &s, NULL) == SQLITE_OK) {
            sqlite3_bind_text(s, 1, trace, -1, SQLITE_STATIC);
            printf("\ndelivery:\n");
            while (sqlite3_step(s) == SQLITE_ROW)
                printf("  %-14s delivered %lld, pending %lld, dead %lld\n", cli_col(s, 0),
                       (long long)sqlite3_column_int64(s, 1), (long long)sqlite3_column_int64(s, 2),
                       (long long)sqlite3_column_int64(s, 3));
            sqlite3_finalize(s);
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(nodes[i].span_id);
        free(nodes[i].parent_id);
        free(nodes[i].type);
        free(nodes[i].name);
        free(nodes[i].body);
    }
    free(nodes);
    free(workflow);
    free(trace_body);
    sqlite3_close(db);
    return result;
}

static double duration_ms(const char *a, const char *b)
{
    int64_t x, y;
    if (!tb__parse_iso8601(a, &x) || !tb__parse_iso8601(b, &y))
        return 0;
    return (double)(y - x) / 1000.0;
}
