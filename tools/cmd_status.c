/*
 * cmd_status.c — `tracebox status`: the per-destination view an on-call
 * engineer reads first. Human table, --json (stable shape, documented in
 * the README) or --prometheus (text exposition format, tracebox_* metrics,
 * for the node_exporter textfile collector). Read-only: it never creates or
 * migrates a file (tb_admin_open with TB_ADMIN_READONLY).
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void prom_label(FILE *f, const char *v)
{
    for (; *v; v++) {
        if (*v == '"' || *v == '\\')
            fprintf(f, "\\%c", *v);
        else if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
}

/* ---- status --check -------------------------------------------------------
 * One line, the monitoring-plugins convention: 0 OK, 2 CRITICAL (credentials
 * refused or a limit exceeded), 3 UNKNOWN (no outbox at the path, or it
 * cannot be read). */
typedef struct check_ctx {
    long long max_pending, max_age_s, max_wal;
    bool no_dead;
    char reason[1024];
    long long total;
    int n;
} check_ctx;

static int check_row(void *ctx, const tb_dest_status *r)
{
    check_ctx *k = ctx;
    k->total += r->pending;
    k->n++;
    if (k->reason[0])
        return 0;
    char a[32];
    const char *err = r->last_error ? r->last_error : "";
    if (r->auth_failed)
        snprintf(k->reason, sizeof k->reason, "%s: credentials refused (%s)", r->name, err);
    else if (k->max_pending >= 0 && r->pending > k->max_pending)
        snprintf(k->reason, sizeof k->reason, "%s: %lld pending (max %lld)%s%s", r->name,
                 (long long)r->pending, k->max_pending, r->last_error ? "; last error: " : "", err);
    else if (k->max_age_s >= 0 && r->pending > 0 && r->oldest_pending_age_s > k->max_age_s)
        snprintf(k->reason, sizeof k->reason, "%s: oldest pending record is %s old (max %llds)",
                 r->name, cli_age(r->oldest_pending_age_s, a), k->max_age_s);
    else if (k->no_dead && r->dead > 0)
        snprintf(k->reason, sizeof k->reason, "%s: %lld dead letter(s) (see `tracebox dead`)",
                 r->name, (long long)r->dead);
    return 0;
}

static int check(cli *c, check_ctx *k)
{
    tb_admin *a = NULL;
    const char *path = cli_db_path(c);
    if (!path) {
        printf("UNKNOWN: the configuration does not load (see `tracebox check`)\n");
        return EXIT_CHECK_UNKNOWN;
    }
    if (tb_admin_open(&a, path, TB_ADMIN_READONLY) != TB_OK) {
        printf("UNKNOWN: %s\n", tb_last_error());
        return EXIT_CHECK_UNKNOWN;
    }
    tb_status st = tb_admin_status(a, check_row, k);
    tb_admin_figures fig;
    if (st == TB_OK && k->max_wal >= 0 && !k->reason[0] &&
        (st = tb_admin_figures_get(a, &fig)) == TB_OK && fig.wal_bytes > k->max_wal)
        snprintf(k->reason, sizeof k->reason,
                 "the WAL is %.1f MiB (max %.1f MiB): a long read transaction (a sqlite3 shell "
                 "left open?) keeps it growing; it shrinks once the shipper is idle",
                 (double)fig.wal_bytes / 1048576.0, (double)k->max_wal / 1048576.0);
    tb_admin_close(a);
    if (st != TB_OK) {
        printf("UNKNOWN: %s\n", tb_last_error());
        return EXIT_CHECK_UNKNOWN;
    }
    if (k->reason[0]) {
        printf("CRITICAL: %s\n", k->reason);
        return EXIT_CHECK_CRITICAL;
    }
    printf("OK: %d destination(s), %lld pending\n", k->n, k->total);
    return EXIT_OK;
}

/* ---- the report ---------------------------------------------------------- */

#define N_GAUGES 6
typedef struct prom_row {
    char *name;
    long long v[N_GAUGES];
} prom_row;

typedef struct report {
    cli *c;
    const tb_config *cfg; /* the config in play, if any: who is configured */
    bool prom;
    int n;
    prom_row *rows; /* prometheus wants each metric's samples together */
    size_t nrows, cap;
    bool nomem;
} report;

static int report_row(void *ctx, const tb_dest_status *r)
{
    report *rp = ctx;
    /* a destination the file knows but the config no longer names holds
     * purge and retention back until `tracebox forget` */
    bool gone = rp->cfg && !tb_config_find_destination(rp->cfg, r->name);
    if (rp->c->json) {
        printf("%s{\"name\":", rp->n ? "," : "");
        cli_json_str(stdout, r->name);
        printf(",\"type\":");
        cli_json_str(stdout, r->type);
        printf(",\"pending\":%lld,\"oldest_pending_age_seconds\":%lld,\"delivered\":%lld,"
               "\"dead\":%lld,\"attempts\":%lld,\"resent\":%lld,\"cursor\":%lld,\"last_error\":",
               (long long)r->pending, (long long)r->oldest_pending_age_s, (long long)r->delivered,
               (long long)r->dead, (long long)r->attempts, (long long)r->resent,
               (long long)r->cursor);
        cli_json_str(stdout, r->last_error);
        printf(",\"next_attempt_at\":");
        cli_json_str(stdout, r->next_attempt_at);
        printf(",\"last_success_at\":");
        cli_json_str(stdout, r->last_success_at);
        printf(",\"lease_owner\":");
        cli_json_str(stdout, r->lease_owner);
        printf(",\"auth_failed\":%s,\"configured\":%s}", r->auth_failed ? "true" : "false",
               !rp->cfg ? "null"
               : gone   ? "false"
                        : "true");
    } else if (rp->prom) {
        if (rp->nrows == rp->cap) {
            size_t cap = rp->cap ? rp->cap * 2 : 16;
            prom_row *g = realloc(rp->rows, cap * sizeof *g);
            if (!g) {
                rp->nomem = true;
                return 1;
            }
            rp->rows = g;
            rp->cap = cap;
        }
        prom_row *x = &rp->rows[rp->nrows];
        if (!(x->name = strdup(r->name))) {
            rp->nomem = true;
            return 1;
        }
        rp->nrows++;
        long long v[N_GAUGES] = {r->pending,  r->oldest_pending_age_s, r->delivered, r->dead,
                                 r->attempts, r->auth_failed ? 1 : 0};
        memcpy(x->v, v, sizeof v);
    } else {
        char agebuf[32], state[900];
        const char *next = r->next_attempt_at ? r->next_attempt_at : "now";
        if (gone)
            snprintf(state, sizeof state,
                     "not in the config: holds %s back until `tracebox forget %s`",
                     r->pending ? "purge and retention" : "nothing", r->name);
        else if (r->auth_failed)
            snprintf(state, sizeof state, "AUTH FAILED (%s) — fix the key; next try %s",
                     r->last_error ? r->last_error : "", next);
        else if (r->last_error)
            snprintf(state, sizeof state, "retrying: %s; next try %s", r->last_error, next);
        else if (r->pending)
            snprintf(state, sizeof state, "pending");
        else
            snprintf(state, sizeof state, "caught up");
        printf("%-14s %-8s %9lld %9s %10lld %6lld %5lld  %s%s%s\n", r->name, r->type,
               (long long)r->pending, r->pending ? cli_age(r->oldest_pending_age_s, agebuf) : "-",
               (long long)r->delivered, (long long)r->dead, (long long)r->attempts, state,
               r->lease_owner ? "; shipping now: " : "", r->lease_owner ? r->lease_owner : "");
    }
    rp->n++;
    return 0;
}

static void prom_metric(const char *name, const char *help, const char *type, long long v)
{
    printf("# HELP tracebox_%s %s\n# TYPE tracebox_%s %s\ntracebox_%s %lld\n", name, help, name,
           type, name, v);
}

int cmd_status(cli *c)
{
    bool prom = false, do_check = false, no_dead = false;
    long long max_pending = -1, max_age_s = -1;
    int64_t max_wal = -1;
    for (int i = 0; i < c->argc; i++) {
        const char *v = NULL;
        int64_t ms;
        if (cli_flag(c, &i, "--prometheus", NULL))
            prom = true;
        else if (cli_flag(c, &i, "--check", NULL))
            do_check = true;
        else if (cli_flag(c, &i, "--no-dead", NULL))
            no_dead = true;
        else if (cli_flag(c, &i, "--max-pending", &v) && cli_int(v, &max_pending) &&
                 max_pending >= 0)
            continue;
        else if (cli_flag(c, &i, "--max-age", &v) && v && tb_parse_duration(v, &ms) == 0)
            max_age_s = ms / 1000;
        else if (cli_flag(c, &i, "--max-wal", &v) && v && tb_parse_size(v, &max_wal) == 0)
            continue;
        else
            return cli_fail(EXIT_USAGE,
                            "status: bad argument '%s' (usage: tracebox status "
                            "[--json|--prometheus|--check [--max-pending N] [--max-age "
                            "DURATION] [--max-wal SIZE] [--no-dead]])",
                            c->argv[i]);
    }
    if (!do_check && (no_dead || max_pending >= 0 || max_age_s >= 0 || max_wal >= 0))
        return cli_fail(EXIT_USAGE, "status: --max-pending, --max-age, --max-wal and --no-dead go "
                                    "with --check");
    if (do_check) {
        check_ctx k = {.max_pending = max_pending,
                       .max_age_s = max_age_s,
                       .max_wal = max_wal,
                       .no_dead = no_dead};
        return check(c, &k);
    }
    tb_admin *a = cli_admin(c, false);
    if (!a)
        return EXIT_ERR;
    const char *path = tb_admin_path(a);
    tb_admin_figures f;
    if (tb_admin_figures_get(a, &f) != TB_OK) {
        cli_fail(EXIT_ERR, "status: %s", tb_last_error());
        tb_admin_close(a);
        return EXIT_ERR;
    }
    if (c->json) {
        printf("{\"outbox\":");
        cli_json_str(stdout, path);
        printf(",\"file_bytes\":%lld,\"wal_bytes\":%lld,\"free_bytes\":%lld,\"records\":%lld,"
               "\"refused_full\":%lld,\"dropped_queue\":%lld,\"purged\":%lld,"
               "\"rejected_unnamed\":%lld,\"destinations\":[",
               (long long)f.file_bytes, (long long)f.wal_bytes, (long long)f.free_bytes,
               (long long)f.records, (long long)f.refused_full, (long long)f.dropped_queue,
               (long long)f.purged, (long long)f.rejected_unnamed);
    } else if (prom) {
        prom_metric("records", "Records stored in the outbox.", "gauge", f.records);
        prom_metric("file_bytes", "Size of the outbox file.", "gauge", f.file_bytes);
        prom_metric("wal_bytes", "Size of the outbox WAL file.", "gauge", f.wal_bytes);
        prom_metric("refused_total", "Records refused because the outbox was full.", "counter",
                    f.refused_full);
        prom_metric("dropped_total", "Records dropped by a full async queue.", "counter",
                    f.dropped_queue);
        prom_metric("rejected_unnamed_total",
                    "Spans a destination reported rejected without naming them.", "counter",
                    f.rejected_unnamed);
        prom_metric("purged_total", "Delivered records deleted by purge or retention.", "counter",
                    f.purged);
        prom_metric("evicted_total", "Delivered records deleted to stay under max_size.", "counter",
                    f.evicted_delivered);
    } else {
        printf("outbox %s: %lld records, %.1f MiB (+%.1f MiB WAL), %.1f GiB free\n", path,
               (long long)f.records, (double)f.file_bytes / 1048576.0,
               (double)f.wal_bytes / 1048576.0, (double)f.free_bytes / 1073741824.0);
        if (f.refused_full || f.dropped_queue)
            printf("  !! refused at max_size: %lld, dropped by a full queue: %lld\n",
                   (long long)f.refused_full, (long long)f.dropped_queue);
        if (f.rejected_unnamed)
            printf("  !! spans a destination rejected without naming them: %lld\n",
                   (long long)f.rejected_unnamed);
        printf("\n%-14s %-8s %9s %9s %10s %6s %5s  %s\n", "DESTINATION", "TYPE", "PENDING",
               "OLDEST", "DELIVERED", "DEAD", "TRIES", "STATE");
    }
    report rp = {.c = c, .prom = prom};
    if (cli_config_in_play(c))
        rp.cfg = cli_config(c); /* NULL (said on stderr) when it does not load */
    tb_status st = tb_admin_status(a, report_row, &rp);
    int result = EXIT_OK;
    if (st != TB_OK)
        result = cli_fail(EXIT_ERR, "status: %s", tb_last_error());
    else if (rp.nomem)
        result = cli_fail(EXIT_ERR, "status: out of memory");
    static const char *gauges[N_GAUGES][2] = {
        {"pending", "Records not yet delivered to the destination."},
        {"oldest_pending_age_seconds", "Age of the oldest pending record."},
        {"delivered_total", "Records delivered to the destination."},
        {"dead_letters", "Records the destination refused for good."},
        {"attempts", "Failed attempts in a row."},
        {"auth_failed", "1 when the destination rejected the credentials."}};
    if (c->json) {
        printf("]}\n");
    } else if (prom) {
        for (size_t g = 0; g < N_GAUGES; g++) {
            const char *type = strstr(gauges[g][0], "_total") ? "counter" : "gauge";
            printf("# HELP tracebox_destination_%s %s\n# TYPE tracebox_destination_%s %s\n",
                   gauges[g][0], gauges[g][1], gauges[g][0], type);
            for (size_t k = 0; k < rp.nrows; k++) {
                printf("tracebox_destination_%s{destination=\"", gauges[g][0]);
                prom_label(stdout, rp.rows[k].name);
                printf("\"} %lld\n", rp.rows[k].v[g]);
            }
        }
    } else if (rp.n == 0) {
        printf("(no destinations yet: they appear after the first `tracebox ship`)\n");
    }
    for (size_t k = 0; k < rp.nrows; k++)
        free(rp.rows[k].name);
    free(rp.rows);
    tb_admin_close(a);
    return result;
}
