/*
 * cmd_status.c — `tracebox status`: the per-destination view an on-call
 * engineer reads first. Human table, --json (stable shape, documented in
 * the README) or --prometheus (text exposition format, tracebox_* metrics,
 * for the node_exporter textfile collector).
 */
#include "db_util.h"

#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

static const char *null_or(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NULL
                                                    : (const char *)sqlite3_column_text(s, i);
}

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

/* `status --check`: one line, exit 0 when healthy, 1 with the first reason
 * otherwise — for monitoring (Nagios-style checks, systemd, cron mail). */
static int check(sqlite3 *db, long long max_pending, long long max_age_s, bool no_dead)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT destination, pending, coalesce(oldest_pending_age, 0), "
                                "dead, alert, last_error FROM outbox_status ORDER BY destination",
                                -1, &s, NULL);
    if (rc != SQLITE_OK)
        return cli_fail(EXIT_ERR, "status: %s", sqlite3_errmsg(db));
    char reason[1024] = "";
    long long total = 0;
    int n = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *name = cli_col(s, 0);
        long long pending = sqlite3_column_int64(s, 1), age = sqlite3_column_int64(s, 2),
                  dead = sqlite3_column_int64(s, 3);
        total += pending;
        n++;
        if (reason[0])
            continue;
        char a[32];
        if (sqlite3_column_type(s, 4) != SQLITE_NULL)
            snprintf(reason, sizeof reason, "%s: credentials refused (%s)", name, cli_col(s, 5));
        else if (max_pending >= 0 && pending > max_pending)
            snprintf(reason, sizeof reason, "%s: %lld pending (max %lld)%s%s", name, pending,
                     max_pending, sqlite3_column_type(s, 5) != SQLITE_NULL ? "; last error: " : "",
                     cli_col(s, 5));
        else if (max_age_s >= 0 && pending > 0 && age > max_age_s)
            snprintf(reason, sizeof reason, "%s: oldest pending record is %s old (max %llds)", name,
                     cli_age(age, a), max_age_s);
        else if (no_dead && dead > 0)
            snprintf(reason, sizeof reason, "%s: %lld dead letter(s) (see `tracebox dead`)", name,
                     dead);
    }
    sqlite3_finalize(s);
    if (reason[0]) {
        printf("CRITICAL: %s\n", reason);
        return EXIT_ERR;
    }
    printf("OK: %d destination(s), %lld pending\n", n, total);
    return EXIT_OK;
}

int cmd_status(cli *c)
{
    bool prom = false, do_check = false, no_dead = false;
    long long max_pending = -1, max_age_s = -1;
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
        else if (cli_flag(c, &i, "--max-age", &v) && v && tb__parse_duration_ms(v, &ms))
            max_age_s = ms / 1000;
        else
            return cli_fail(EXIT_USAGE,
                            "status: bad argument '%s' (usage: tracebox status "
                            "[--json|--prometheus|--check [--max-pending N] [--max-age "
                            "DURATION] [--no-dead]])",
                            c->argv[i]);
    }
    if (!do_check && (no_dead || max_pending >= 0 || max_age_s >= 0))
        return cli_fail(EXIT_USAGE, "status: --max-pending, --max-age and --no-dead go with "
                                    "--check");
    if (do_check) {
        sqlite3 *cdb = cli_db(c);
        if (!cdb)
            return EXIT_ERR;
        int r = check(cdb, max_pending, max_age_s, no_dead);
        sqlite3_close(cdb);
        return r;
    }
    const char *path = cli_db_path(c);
    sqlite3 *db = cli_db(c);
    if (!db)
        return EXIT_ERR;
    struct stat stb;
    long long file_size = stat(path, &stb) == 0 ? (long long)stb.st_size : -1;
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", path);
    long long wal_size = stat(wal, &stb) == 0 ? (long long)stb.st_size : 0;
    struct statvfs vfs;
    long long free_bytes =
        statvfs(path, &vfs) == 0 ? (long long)vfs.f_bavail * (long long)vfs.f_frsize : -1;
    static const char counter_sql[] = "SELECT value FROM counters WHERE name = ?1";
    long long records = cli_scalar(db, "SELECT count(*) FROM records", NULL, 0);
    long long refused = cli_scalar(db, counter_sql, "refused_full", 0),
              dropped = cli_scalar(db, counter_sql, "dropped_queue", 0),
              purged = cli_scalar(db, counter_sql, "purged", 0),
              rejected = cli_scalar(db, counter_sql, "rejected_unnamed", 0);

    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT o.destination, o.type, o.pending, o.oldest_pending_age, "
                                "o.delivered, o.dead, o.attempts, o.last_error, o.next_attempt_at, "
                                "o.last_success_at, o.lease_owner, o.alert, d.resent, d.cursor "
                                "FROM outbox_status o JOIN destinations d ON d.name = "
                                "o.destination ORDER BY o.destination",
                                -1, &s, NULL);
    if (rc != SQLITE_OK) {
        cli_fail(EXIT_ERR, "status: %s", sqlite3_errmsg(db));
        sqlite3_close(db);
        return EXIT_ERR;
    }
    if (c->json) {
        printf("{\"outbox\":");
        cli_json_str(stdout, path);
        printf(",\"file_bytes\":%lld,\"wal_bytes\":%lld,\"free_bytes\":%lld,\"records\":%lld,"
               "\"refused_full\":%lld,\"dropped_queue\":%lld,\"purged\":%lld,"
               "\"rejected_unnamed\":%lld,\"destinations\":[",
               file_size, wal_size, free_bytes, records, refused, dropped, purged, rejected);
    } else if (prom) {
        printf("# HELP tracebox_records Records stored in the outbox.\n# TYPE tracebox_records "
               "gauge\ntracebox_records %lld\n",
               records);
        printf("# HELP tracebox_file_bytes Size of the outbox file.\n# TYPE tracebox_file_bytes "
               "gauge\ntracebox_file_bytes %lld\n",
               file_size);
        printf("# HELP tracebox_wal_bytes Size of the outbox WAL file.\n# TYPE "
               "tracebox_wal_bytes gauge\ntracebox_wal_bytes %lld\n",
               wal_size);
        printf("# HELP tracebox_refused_total Records refused because the outbox was full.\n# "
               "TYPE tracebox_refused_total counter\ntracebox_refused_total %lld\n",
               refused);
        printf("# HELP tracebox_dropped_total Records dropped by a full async queue.\n# TYPE "
               "tracebox_dropped_total counter\ntracebox_dropped_total %lld\n",
               dropped);
    } else {
        char size[32];
        snprintf(size, sizeof size, "%.1f MiB", (double)file_size / 1048576.0);
        printf("outbox %s: %lld records, %s (+%.1f MiB WAL), %.1f GiB free\n", path, records, size,
               (double)wal_size / 1048576.0, (double)free_bytes / 1073741824.0);
        if (refused || dropped)
            printf("  !! refused at max_size: %lld, dropped by a full queue: %lld\n", refused,
                   dropped);
        printf("\n%-14s %-8s %9s %9s %10s %6s %5s  %s\n", "DESTINATION", "TYPE", "PENDING",
               "OLDEST", "DELIVERED", "DEAD", "TRIES", "STATE");
    }
    static const char *gauges[][2] = {
        {"pending", "Records not yet delivered to the destination."},
        {"oldest_pending_age_seconds", "Age of the oldest pending record."},
        {"delivered_total", "Records delivered to the destination."},
        {"dead_letters", "Records the destination refused for good."},
        {"attempts", "Failed attempts in a row."},
        {"auth_failed", "1 when the destination rejected the credentials."}};
    /* prometheus wants each metric's samples together: collect rows first */
    typedef struct row {
        char name[128];
        long long v[6];
    } row;
    row rows[256];
    size_t nrows = 0;
    int n = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = cli_col(s, 0);
        long long pending = sqlite3_column_int64(s, 2), age = sqlite3_column_int64(s, 3),
                  delivered = sqlite3_column_int64(s, 4), dead = sqlite3_column_int64(s, 5),
                  attempts = sqlite3_column_int64(s, 6);
        const char *alert = null_or(s, 11);
        if (c->json) {
            printf("%s{\"name\":", n ? "," : "");
            cli_json_str(stdout, name);
            printf(",\"type\":");
            cli_json_str(stdout, cli_col(s, 1));
            printf(",\"pending\":%lld,\"oldest_pending_age_seconds\":%lld,\"delivered\":%lld,"
                   "\"dead\":%lld,\"attempts\":%lld,\"resent\":%lld,\"cursor\":%lld,"
                   "\"last_error\":",
                   pending, age, delivered, dead, attempts, (long long)sqlite3_column_int64(s, 12),
                   (long long)sqlite3_column_int64(s, 13));
            cli_json_str(stdout, null_or(s, 7));
            printf(",\"next_attempt_at\":");
            cli_json_str(stdout, null_or(s, 8));
            printf(",\"last_success_at\":");
            cli_json_str(stdout, null_or(s, 9));
            printf(",\"lease_owner\":");
            cli_json_str(stdout, null_or(s, 10));
            printf(",\"auth_failed\":%s}", alert ? "true" : "false");
        } else if (prom) {
            if (nrows < sizeof rows / sizeof rows[0]) {
                row *r = &rows[nrows++];
                snprintf(r->name, sizeof r->name, "%s", name);
                r->v[0] = pending;
                r->v[1] = age;
                r->v[2] = delivered;
                r->v[3] = dead;
                r->v[4] = attempts;
                r->v[5] = alert ? 1 : 0;
            }
        } else {
            char agebuf[32], state[900];
            const char *err = null_or(s, 7);
            if (alert)
                snprintf(state, sizeof state, "AUTH FAILED (%s) — fix the key; next try %s",
                         err ? err : "", cli_col(s, 8));
            else if (err)
                snprintf(state, sizeof state, "retrying: %s; next try %s", err, cli_col(s, 8));
            else if (pending)
                snprintf(state, sizeof state, "pending");
            else
                snprintf(state, sizeof state, "caught up");
            printf("%-14s %-8s %9lld %9s %10lld %6lld %5lld  %s%s%s\n", name, cli_col(s, 1),
                   pending, pending ? cli_age(age, agebuf) : "-", delivered, dead, attempts, state,
                   null_or(s, 10) ? "; shipping now: " : "", null_or(s, 10) ? null_or(s, 10) : "");
        }
        n++;
    }
    int result = rc == SQLITE_DONE ? EXIT_OK : cli_fail(EXIT_ERR, "status: %s", sqlite3_errmsg(db));
    if (c->json) {
        printf("]}\n");
    } else if (prom) {
        for (size_t g = 0; g < sizeof gauges / sizeof gauges[0]; g++) {
            const char *type = strstr(gauges[g][0], "_total") ? "counter" : "gauge";
            printf("# HELP tracebox_destination_%s %s\n# TYPE tracebox_destination_%s %s\n",
                   gauges[g][0], gauges[g][1], gauges[g][0], type);
            for (size_t k = 0; k < nrows; k++) {
                printf("tracebox_destination_%s{destination=\"", gauges[g][0]);
                prom_label(stdout, rows[k].name);
                printf("\"} %lld\n", rows[k].v[g]);
            }
        }
    } else if (n == 0) {
        printf("(no destinations yet: they appear after the first `tracebox ship`)\n");
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return result;
}
