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

/* Where this verb writes: stdout, or the stream `tracebox serve` gives it
 * for GET /metrics (cli.out), per thread. */
static _Thread_local FILE *out_;

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
 * One line, the monitoring-plugins convention: 0 OK, 1 WARNING (a --warn-*
 * limit exceeded), 2 CRITICAL (credentials refused, or a --crit-* / --max-*
 * limit exceeded), 3 UNKNOWN (no outbox at the path, it cannot be read, or
 * the configuration does not load). A limit of -1 is not set. */
enum { WARN, CRIT };
typedef struct check_ctx {
    long long pending[2], age_s[2], dead[2], wal[2];
    char reason[2][1024]; /* the first reason at each level */
    long long total;
    int n;
} check_ctx;

static void check_level(check_ctx *k, int lv, const tb_dest_status *r)
{
    char a[32];
    const char *err = r->last_error ? r->last_error : "";
    char *out = k->reason[lv];
    size_t size = sizeof k->reason[lv];
    if (out[0])
        return;
    if (k->pending[lv] >= 0 && r->pending > k->pending[lv])
        snprintf(out, size, "%s: %lld pending (limit %lld)%s%s", r->name, (long long)r->pending,
                 k->pending[lv], r->last_error ? "; last error: " : "", err);
    else if (k->age_s[lv] >= 0 && r->pending > 0 && r->oldest_pending_age_s > k->age_s[lv])
        snprintf(out, size, "%s: oldest pending record is %s old (limit %llds)", r->name,
                 cli_age(r->oldest_pending_age_s, a), k->age_s[lv]);
    else if (k->dead[lv] >= 0 && r->dead > k->dead[lv])
        snprintf(out, size, "%s: %lld dead letter(s) (limit %lld; see `tracebox dead`)", r->name,
                 (long long)r->dead, k->dead[lv]);
}

static int check_row(void *ctx, const tb_dest_status *r)
{
    check_ctx *k = ctx;
    k->total += r->pending;
    k->n++;
    if (r->auth_failed && !k->reason[CRIT][0])
        snprintf(k->reason[CRIT], sizeof k->reason[CRIT], "%s: credentials refused (%s)", r->name,
                 r->last_error ? r->last_error : "");
    check_level(k, CRIT, r);
    check_level(k, WARN, r);
    return 0;
}

static int check(cli *c, check_ctx *k)
{
    tb_admin *a = NULL;
    const char *path = cli_db_path(c);
    if (!path) {
        fprintf(out_, "UNKNOWN: the configuration does not load (see `tracebox check`)\n");
        return EXIT_CHECK_UNKNOWN;
    }
    if (tb_admin_open(&a, path, TB_ADMIN_READONLY) != TB_OK) {
        fprintf(out_, "UNKNOWN: %s\n", tb_last_error());
        return EXIT_CHECK_UNKNOWN;
    }
    tb_status st = tb_admin_status(a, check_row, k);
    tb_admin_figures fig;
    if (st == TB_OK && (k->wal[WARN] >= 0 || k->wal[CRIT] >= 0) &&
        (st = tb_admin_figures_get(a, &fig)) == TB_OK) {
        for (int lv = CRIT; lv >= WARN; lv--)
            if (k->wal[lv] >= 0 && fig.wal_bytes > k->wal[lv] && !k->reason[lv][0])
                snprintf(k->reason[lv], sizeof k->reason[lv],
                         "the WAL is %.1f MiB (limit %.1f MiB): a long read transaction (a "
                         "sqlite3 shell left open?) keeps it growing; it shrinks once the "
                         "shipper is idle",
                         (double)fig.wal_bytes / 1048576.0, (double)k->wal[lv] / 1048576.0);
    }
    tb_admin_close(a);
    if (st != TB_OK) {
        fprintf(out_, "UNKNOWN: %s\n", tb_last_error());
        return EXIT_CHECK_UNKNOWN;
    }
    if (k->reason[CRIT][0]) {
        fprintf(out_, "CRITICAL: %s | pending=%lld\n", k->reason[CRIT], k->total);
        return EXIT_CHECK_CRITICAL;
    }
    if (k->reason[WARN][0]) {
        fprintf(out_, "WARNING: %s | pending=%lld\n", k->reason[WARN], k->total);
        return EXIT_CHECK_WARNING;
    }
    fprintf(out_, "OK: %d destination(s), %lld pending | pending=%lld\n", k->n, k->total, k->total);
    return EXIT_OK;
}

/* One --warn-* / --crit-* / --max-* flag into k; false when argv[*i] is
 * none of them (or its value is bad). */
static bool check_flag(cli *c, int *i, check_ctx *k, bool *bad)
{
    static const char *const kinds[] = {"pending", "age", "dead", "wal"};
    const char *v = NULL;
    for (size_t kind = 0; kind < 4; kind++) {
        for (int lv = WARN; lv <= CRIT; lv++) {
            char name[32];
            snprintf(name, sizeof name, "--%s-%s", lv == WARN ? "warn" : "crit", kinds[kind]);
            bool hit = cli_flag(c, i, name, &v);
            if (!hit && lv == CRIT && kind != 2) { /* --max-* of the first version */
                snprintf(name, sizeof name, "--max-%s", kinds[kind]);
                hit = cli_flag(c, i, name, &v);
            }
            if (!hit)
                continue;
            long long n = -1;
            int64_t x = -1;
            bool ok = v != NULL;
            if (ok && kind == 1) {
                ok = tb_parse_duration(v, &x) == 0;
                n = x / 1000;
            } else if (ok && kind == 3) {
                ok = tb_parse_size(v, &x) == 0;
                n = x;
            } else if (ok) {
                ok = cli_int(v, &n) && n >= 0;
            }
            *bad = !ok;
            long long *slot[] = {k->pending, k->age_s, k->dead, k->wal};
            slot[kind][lv] = n;
            return true;
        }
    }
    if (cli_flag(c, i, "--no-dead", NULL)) {
        k->dead[CRIT] = 0;
        return true;
    }
    return false;
}

/* ---- the report ---------------------------------------------------------- */

#define N_GAUGES 8
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

/* "2026-11-30T08:26:00.123456+00:00" (UTC, as tracebox writes it) in
 * seconds since the epoch; 0 for NULL or anything else. */
static long long epoch_seconds(const char *iso)
{
    int y, mo, d, h, mi, sec;
    if (!iso || sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6)
        return 0;
    /* days from civil (Howard Hinnant's algorithm) */
    y -= mo <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long long days = era * 146097 + doe - 719468;
    return days * 86400 + h * 3600 + mi * 60 + sec;
}

static int report_row(void *ctx, const tb_dest_status *r)
{
    report *rp = ctx;
    /* a destination the file knows but the config no longer names holds
     * purge and retention back until `tracebox forget` */
    bool gone = rp->cfg && !tb_config_find_destination(rp->cfg, r->name);
    if (rp->c->json) {
        fprintf(out_, "%s{\"name\":", rp->n ? "," : "");
        cli_json_str(out_, r->name);
        fprintf(out_, ",\"type\":");
        cli_json_str(out_, r->type);
        fprintf(out_,
                ",\"pending\":%lld,\"oldest_pending_age_seconds\":%lld,\"delivered\":%lld,"
                "\"dead\":%lld,\"attempts\":%lld,\"resent\":%lld,\"cursor\":%lld,\"last_error\":",
                (long long)r->pending, (long long)r->oldest_pending_age_s, (long long)r->delivered,
                (long long)r->dead, (long long)r->attempts, (long long)r->resent,
                (long long)r->cursor);
        cli_json_str(out_, r->last_error);
        fprintf(out_, ",\"next_attempt_at\":");
        cli_json_str(out_, r->next_attempt_at);
        fprintf(out_, ",\"last_success_at\":");
        cli_json_str(out_, r->last_success_at);
        fprintf(out_, ",\"lease_owner\":");
        cli_json_str(out_, r->lease_owner);
        fprintf(out_, ",\"auth_failed\":%s,\"configured\":%s}", r->auth_failed ? "true" : "false",
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
        long long v[N_GAUGES] = {
            r->pending,  r->oldest_pending_age_s, r->delivered, r->dead,
            r->attempts, r->auth_failed ? 1 : 0,  r->resent,    epoch_seconds(r->last_success_at)};
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
        fprintf(out_, "%-14s %-8s %9lld %9s %10lld %6lld %5lld  %s%s%s\n", r->name, r->type,
                (long long)r->pending, r->pending ? cli_age(r->oldest_pending_age_s, agebuf) : "-",
                (long long)r->delivered, (long long)r->dead, (long long)r->attempts, state,
                r->lease_owner ? "; shipping now: " : "", r->lease_owner ? r->lease_owner : "");
    }
    rp->n++;
    return 0;
}

static void prom_metric(const char *name, const char *help, const char *type, long long v)
{
    fprintf(out_, "# HELP tracebox_%s %s\n# TYPE tracebox_%s %s\ntracebox_%s %lld\n", name, help,
            name, type, name, v);
}

int cmd_status(cli *c)
{
    out_ = c->out ? c->out : stdout;
    bool prom = false, do_check = false, limits = false;
    check_ctx lim = {.pending = {-1, -1}, .age_s = {-1, -1}, .dead = {-1, -1}, .wal = {-1, -1}};
    for (int i = 0; i < c->argc; i++) {
        bool bad = false;
        if (cli_flag(c, &i, "--prometheus", NULL))
            prom = true;
        else if (cli_flag(c, &i, "--check", NULL))
            do_check = true;
        else if (check_flag(c, &i, &lim, &bad) && !bad)
            limits = true;
        else
            return cli_fail(EXIT_USAGE,
                            "status: bad argument '%s' (usage: tracebox status "
                            "[--json|--prometheus|--check [--warn-pending N] [--crit-pending N] "
                            "[--warn-age DURATION] [--crit-age DURATION] [--warn-dead N] "
                            "[--crit-dead N] [--warn-wal SIZE] [--crit-wal SIZE] [--no-dead]])",
                            c->argv[i]);
    }
    if (!do_check && limits)
        return cli_fail(EXIT_USAGE, "status: the --warn-*, --crit-*, --max-* and --no-dead "
                                    "limits go with --check");
    if (do_check)
        return check(c, &lim);
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
        fprintf(out_, "{\"outbox\":");
        cli_json_str(out_, path);
        fprintf(out_,
                ",\"file_bytes\":%lld,\"wal_bytes\":%lld,\"free_bytes\":%lld,\"records\":%lld,"
                "\"refused_full\":%lld,\"dropped_queue\":%lld,\"purged\":%lld,"
                "\"rejected_unnamed\":%lld,\"skipped\":%lld,\"destinations\":[",
                (long long)f.file_bytes, (long long)f.wal_bytes, (long long)f.free_bytes,
                (long long)f.records, (long long)f.refused_full, (long long)f.dropped_queue,
                (long long)f.purged, (long long)f.rejected_unnamed, (long long)f.skipped);
    } else if (prom) {
        fprintf(out_,
                "# HELP tracebox_build_info The tracebox version.\n# TYPE tracebox_build_info "
                "gauge\ntracebox_build_info{version=\"%s\"} 1\n",
                tb_version());
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
        prom_metric("skipped_total",
                    "Records a destination does not take (OTLP spans at an openai destination).",
                    "counter", f.skipped);
        prom_metric("purged_total", "Delivered records deleted by purge or retention.", "counter",
                    f.purged);
        prom_metric("evicted_total", "Delivered records deleted to stay under max_size.", "counter",
                    f.evicted_delivered);
    } else {
        fprintf(out_, "outbox %s: %lld records, %.1f MiB (+%.1f MiB WAL), %.1f GiB free\n", path,
                (long long)f.records, (double)f.file_bytes / 1048576.0,
                (double)f.wal_bytes / 1048576.0, (double)f.free_bytes / 1073741824.0);
        if (f.refused_full || f.dropped_queue)
            fprintf(out_, "  !! refused at max_size: %lld, dropped by a full queue: %lld\n",
                    (long long)f.refused_full, (long long)f.dropped_queue);
        if (f.rejected_unnamed)
            fprintf(out_, "  !! spans a destination rejected without naming them: %lld\n",
                    (long long)f.rejected_unnamed);
        if (f.skipped)
            fprintf(out_,
                    "  records a destination does not take (OTLP spans at openai), not sent: "
                    "%lld\n",
                    (long long)f.skipped);
        fprintf(out_, "\n%-14s %-8s %9s %9s %10s %6s %5s  %s\n", "DESTINATION", "TYPE", "PENDING",
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
        {"auth_failed", "1 when the destination rejected the credentials."},
        {"resent_total", "Records sent again that the destination may already have had."},
        {"last_success_timestamp_seconds",
         "When the destination last accepted a batch (0: never), seconds since the epoch."}};
    if (c->json) {
        fprintf(out_, "]}\n");
    } else if (prom) {
        for (size_t g = 0; g < N_GAUGES; g++) {
            const char *type = strstr(gauges[g][0], "_total") ? "counter" : "gauge";
            fprintf(out_, "# HELP tracebox_destination_%s %s\n# TYPE tracebox_destination_%s %s\n",
                    gauges[g][0], gauges[g][1], gauges[g][0], type);
            for (size_t k = 0; k < rp.nrows; k++) {
                fprintf(out_, "tracebox_destination_%s{destination=\"", gauges[g][0]);
                prom_label(out_, rp.rows[k].name);
                fprintf(out_, "\"} %lld\n", rp.rows[k].v[g]);
            }
        }
    } else if (rp.n == 0) {
        fprintf(out_, "(no destinations yet: they appear after the first `tracebox ship`)\n");
    }
    for (size_t k = 0; k < rp.nrows; k++)
        free(rp.rows[k].name);
    free(rp.rows);
    tb_admin_close(a);
    return result;
}
