/*
 * test_cli_operator.c — the operator's verbs as a person runs them: demo
 * (and demo --outage), status (human, --json shape, --prometheus checked
 * against the text exposition format rules, --check exit codes), show,
 * purge (never deletes what is pending; reclaims space).
 */
#include "fixture.h"

typedef st_fx fx;

static void demo(fx *f)
{
    const char *args[] = {"demo", NULL};
    free(st_fx_run(f, 0, args));
}

static void test_demo_ships_everything(void **state)
{
    fx *f = *state;
    const char *args[] = {"demo", NULL};
    char *out = st_fx_run(f, 0, args);
    assert_non_null(strstr(out, "== 4. tracebox show trace_"));
    assert_non_null(strstr(out, "0 still pending"));
    int64_t records = st_db_int(f->db, "SELECT count(*) FROM records");
    assert_true(records > 100);
    /* the file destination holds one JSON line per record */
    char path[700];
    snprintf(path, sizeof path, "%s/tracebox-export.jsonl", f->dir);
    size_t len = 0;
    char *lines = st_read_file(path, &len);
    int64_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += lines[i] == '\n';
    assert_int_equal(n, records);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM pending"), 0);
    /* a failing tool and a guardrail trip are in the workload */
    assert_true(st_db_int(f->db, "SELECT count(*) FROM records WHERE type = 'guardrail' AND "
                                 "error IS NOT NULL") > 0);
    assert_true(st_db_int(f->db, "SELECT count(*) FROM records WHERE type = 'function' AND "
                                 "error IS NOT NULL") > 0);
    free(lines);
    free(out);
}

static void test_demo_outage_drains(void **state)
{
    fx *f = *state;
    const char *args[] = {"demo", "--outage", NULL};
    char *out = st_fx_run(f, 0, args);
    long received = -1, left = -1;
    const char *p = strstr(out, "backlog drained: the collector received ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "backlog drained: the collector received %ld records; %ld still",
                            &received, &left),
                     2);
    assert_int_equal(left, 0);
    assert_int_equal(received, st_db_int(f->db, "SELECT count(*) FROM records"));
    assert_non_null(strstr(out, "connection refused, backing off"));
    free(out);
}

/* ---- Prometheus text exposition format ---- */

static bool metric_name_ok(const char *s, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
            return false;
    return true;
}

/* Checks: every sample's family has a TYPE line before it; HELP/TYPE at
 * most once per family; a family's samples are contiguous; names and label
 * syntax are valid; values parse as numbers; no duplicate series. Returns
 * the number of samples; fails the test with the offending line. */
static int check_prometheus(const char *text)
{
    char families[64][128];
    char types[64][16];
    int nfam = 0, samples = 0;
    char last_family[128] = "";
    char series[256][256];
    int nseries = 0;
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        assert_non_null(end); /* every line ends with \n */
        size_t len = (size_t)(end - line);
        char buf[512];
        assert_true(len < sizeof buf);
        memcpy(buf, line, len);
        buf[len] = '\0';
        if (strncmp(buf, "# HELP ", 7) == 0 || strncmp(buf, "# TYPE ", 7) == 0) {
            char name[128], rest[256] = "";
            assert_true(sscanf(buf + 7, "%127s %255[^\n]", name, rest) >= 1);
            assert_true(metric_name_ok(name, strlen(name)));
            int k = -1;
            for (int i = 0; i < nfam; i++)
                if (strcmp(families[i], name) == 0)
                    k = i;
            if (buf[2] == 'T') {
                if (k >= 0 && types[k][0])
                    fail_msg("second TYPE for %s", name);
                assert_true(strcmp(rest, "gauge") == 0 || strcmp(rest, "counter") == 0);
                if (k < 0) {
                    k = nfam++;
                    snprintf(families[k], sizeof families[k], "%s", name);
                }
                snprintf(types[k], sizeof types[k], "%.15s", rest);
            } else if (k < 0) {
                k = nfam++;
                snprintf(families[k], sizeof families[k], "%s", name);
                types[k][0] = '\0';
            }
        } else if (buf[0] == '#' || buf[0] == '\0') {
            /* comment or blank */
        } else {
            size_t nl = strcspn(buf, "{ ");
            char name[128];
            assert_true(nl < sizeof name);
            memcpy(name, buf, nl);
            name[nl] = '\0';
            if (!metric_name_ok(name, nl))
                fail_msg("bad metric name in: %s", buf);
            int k = -1;
            for (int i = 0; i < nfam; i++)
                if (strcmp(families[i], name) == 0)
                    k = i;
            if (k < 0 || !types[k][0])
                fail_msg("sample before its TYPE: %s", buf);
            if (last_family[0] && strcmp(last_family, name) != 0) {
                /* a family seen before must not come back later */
                for (int i = 0; i < nseries; i++)
                    if (strncmp(series[i], name, nl) == 0 &&
                        (series[i][nl] == '{' || series[i][nl] == ' ' || series[i][nl] == 0))
                        fail_msg("samples of %s are not contiguous", name);
            }
            snprintf(last_family, sizeof last_family, "%s", name);
            const char *p = buf + nl;
            if (*p == '{') {
                p++;
                while (*p != '}') {
                    size_t ln = strcspn(p, "=");
                    assert_true(metric_name_ok(p, ln));
                    p += ln;
                    assert_int_equal(*p++, '=');
                    assert_int_equal(*p++, '"');
                    while (*p && *p != '"') {
                        if (*p == '\\') {
                            p++;
                            assert_true(*p == '\\' || *p == '"' || *p == 'n');
                        }
                        p++;
                    }
                    assert_int_equal(*p++, '"');
                    if (*p == ',')
                        p++;
                }
                p++;
            }
            size_t key_len = (size_t)(p - buf);
            assert_int_equal(*p++, ' ');
            char *num_end;
            strtod(p, &num_end);
            if (num_end == p || (*num_end != '\0' && *num_end != ' '))
                fail_msg("bad value in: %s", buf);
            for (int i = 0; i < nseries; i++)
                if (strlen(series[i]) == key_len && strncmp(series[i], buf, key_len) == 0)
                    fail_msg("duplicate series: %s", buf);
            assert_true(nseries < 256 && key_len < 256);
            memcpy(series[nseries], buf, key_len);
            series[nseries++][key_len] = '\0';
            samples++;
        }
        line = end + 1;
    }
    return samples;
}

static void test_status_formats(void **state)
{
    fx *f = *state;
    demo(f);
    /* a second, never-shipped destination with a quote in its name */
    st_db_exec(f->db, "INSERT INTO destinations (name, type, cursor, created_at, last_error) "
                      "VALUES ('we\"ird', 'webhook', 0, '2026-01-01T00:00:00.000000+00:00', "
                      "'HTTP 503: down')");
    st_db_exec(f->db, "UPDATE counters SET value = 7 WHERE name = 'rejected_unnamed'");
    const char *prom[] = {"status", "--prometheus", NULL};
    char *out = st_fx_run(f, 0, prom);
    int samples = check_prometheus(out);
    assert_true(samples >= 8 + 6 * 2);
    assert_non_null(strstr(out, "tracebox_destination_pending{destination=\"we\\\"ird\"} "));
    assert_non_null(strstr(out, "\ntracebox_rejected_unnamed_total 7\n"));
    assert_non_null(strstr(out, "\ntracebox_purged_total 0\n"));
    assert_non_null(strstr(out, "tracebox_build_info{version=\""));
    assert_non_null(strstr(out, "tracebox_destination_resent_total{destination=\"file\"} 0"));
    /* the demo's file destination shipped: a real time; the other never did */
    assert_non_null(strstr(out, "tracebox_destination_last_success_timestamp_seconds{destination="
                                "\"we\\\"ird\"} 0\n"));
    {
        const char *at = strstr(out, "tracebox_destination_last_success_timestamp_seconds{"
                                     "destination=\"file\"} ");
        assert_non_null(at);
        long long ts = atoll(strchr(at, '}') + 2);
        long long now = (long long)time(NULL);
        assert_true(ts > now - 3600 && ts <= now + 5);
    }
    free(out);
    const char *plain[] = {"status", NULL};
    out = st_fx_run(f, 0, plain);
    assert_non_null(strstr(out, "rejected without naming them: 7"));
    free(out);

    const char *json[] = {"status", "--json", NULL};
    out = st_fx_run(f, 0, json);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const char *top[] = {"outbox",       "file_bytes",    "wal_bytes", "free_bytes",  "records",
                         "refused_full", "dropped_queue", "purged",    "destinations"};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        assert_non_null(cJSON_GetObjectItemCaseSensitive(j, top[i]));
    cJSON *dests = cJSON_GetObjectItemCaseSensitive(j, "destinations");
    assert_int_equal(cJSON_GetArraySize(dests), 2);
    const char *keys[] = {
        "name",        "type",       "pending",         "oldest_pending_age_seconds",
        "delivered",   "dead",       "attempts",        "resent",
        "cursor",      "last_error", "next_attempt_at", "last_success_at",
        "lease_owner", "auth_failed"};
    cJSON *d;
    cJSON_ArrayForEach(d, dests)
    {
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (!cJSON_GetObjectItemCaseSensitive(d, keys[i]))
                fail_msg("status --json: destination lacks %s", keys[i]);
    }
    cJSON *weird = cJSON_GetArrayItem(dests, 1);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(weird, "name")->valuestring, "we\"ird");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(weird, "pending")->valueint,
                     st_db_int(f->db, "SELECT count(*) FROM records"));
    cJSON_Delete(j);
    free(out);

    const char *human[] = {"status", NULL};
    out = st_fx_run(f, 0, human);
    assert_non_null(strstr(out, "retrying: HTTP 503: down"));
    assert_non_null(strstr(out, "caught up"));
    free(out);
}

static void test_status_check(void **state)
{
    fx *f = *state;
    demo(f);
    const char *ok[] = {"status", "--check", "--no-dead", "--max-pending", "0", NULL};
    char *out = st_fx_run(f, 0, ok);
    assert_non_null(strstr(out, "OK: 1 destination(s), 0 pending"));
    free(out);

    st_db_exec(f->db, "INSERT INTO dead_letters (destination, seq, reason, http_status, time) "
                      "VALUES ('file', 1, 'HTTP 400: bad', 400, '2026-01-01T00:00:00Z')");
    /* CRITICAL is 2, as the monitoring-plugins convention has it */
    const char *nodead[] = {"status", "--check", "--no-dead", NULL};
    out = st_fx_run(f, 2, nodead);
    assert_non_null(strstr(out, "CRITICAL: file: 1 dead letter(s)"));
    free(out);
    const char *plain[] = {"status", "--check", NULL};
    free(st_fx_run(f, 0, plain));

    st_db_exec(f->db, "UPDATE destinations SET cursor = cursor - 3");
    const char *maxp[] = {"status", "--check", "--max-pending", "2", NULL};
    out = st_fx_run(f, 2, maxp);
    assert_non_null(strstr(out, "CRITICAL: file: 3 pending (limit 2)"));
    free(out);
    /* WARNING is 1: a --warn-* limit crossed, no --crit-* one */
    const char *warnp[] = {"status", "--check", "--warn-pending", "2", "--crit-pending",
                           "10",     NULL};
    out = st_fx_run(f, 1, warnp);
    assert_non_null(strstr(out, "WARNING: file: 3 pending (limit 2)"));
    assert_non_null(strstr(out, "| pending=3"));
    free(out);
    const char *warnd[] = {"status", "--check", "--warn-dead", "0", "--crit-dead", "5", NULL};
    out = st_fx_run(f, 1, warnd);
    assert_non_null(strstr(out, "WARNING: file: 1 dead letter(s) (limit 0"));
    free(out);
    const char *both[] = {"status", "--check", "--warn-pending", "1", "--crit-pending", "2", NULL};
    out = st_fx_run(f, 2, both); /* critical wins */
    assert_non_null(strstr(out, "CRITICAL: file: 3 pending (limit 2)"));
    free(out);
    const char *badv[] = {"status", "--check", "--warn-age", "soon", NULL};
    free(st_fx_run(f, 2, badv)); /* usage */
    st_db_exec(f->db, "UPDATE records SET created_at = '2000-01-01T00:00:00.000000+00:00'");
    const char *maxa[] = {"status", "--check", "--max-age", "1h", NULL};
    out = st_fx_run(f, 2, maxa);
    assert_non_null(strstr(out, "oldest pending record is"));
    free(out);
    st_db_exec(f->db, "UPDATE destinations SET auth_failed = 1, last_error = 'HTTP 401: no'");
    out = st_fx_run(f, 2, plain);
    assert_non_null(strstr(out, "credentials refused (HTTP 401: no)"));
    free(out);
    const char *usage[] = {"status", "--no-dead", NULL};
    free(st_fx_run(f, 2, usage));
}

static void test_show(void **state)
{
    fx *f = *state;
    demo(f);
    char trace[64];
    assert_true(st_db_text(f->db, trace, sizeof trace,
                           "SELECT trace_id FROM records WHERE type = 'handoff' LIMIT 1"));
    const char *args[] = {"show", trace, NULL};
    char *out = st_fx_run(f, 0, args);
    int64_t spans = st_db_int(f->db,
                              "SELECT count(*) FROM records WHERE kind = 'span' AND "
                              "trace_id = '%s'",
                              trace);
    char head[200];
    snprintf(head, sizeof head, "trace %s  \"Customer support\"  (%lld spans)", trace,
             (long long)spans);
    assert_non_null(strstr(out, head));
    /* a tree as tree(1) draws one: every span on a branch, ├─ where a
     * sibling follows, └─ for the last child, │ carrying a parent's line */
    int64_t mid = 0, last = 0;
    for (char *p = out; (p = strstr(p, "├─")); p++)
        mid++;
    for (char *p = out; (p = strstr(p, "└─")); p++)
        last++;
    assert_int_equal(mid + last, spans);
    assert_true(mid > 0);
    assert_true(last > 1);
    assert_non_null(strstr(out, "│  ├─ ") ? strstr(out, "│  ├─ ") : strstr(out, "│  └─ "));
    assert_non_null(strstr(out, "Triage agent -> Billing agent"));
    assert_non_null(strstr(out, "in /")); /* tokens of a generation */
    assert_non_null(strstr(out, "file           delivered"));
    free(out);

    const char *json[] = {"show", trace, "--json", NULL};
    out = st_fx_run(f, 0, json);
    int64_t n = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        cJSON_Delete(o);
        n++;
    }
    assert_int_equal(n, spans + 1);
    free(out);

    const char *missing[] = {"show", "trace_00000000000000000000000000000000", NULL};
    free(st_fx_run(f, 1, missing));
}

static void test_purge(void **state)
{
    fx *f = *state;
    demo(f);
    demo(f);
    int64_t records = st_db_int(f->db, "SELECT count(*) FROM records");
    /* a destination that has received nothing holds everything back */
    st_db_exec(f->db, "INSERT INTO destinations (name, type, cursor, created_at) VALUES "
                      "('late', 'webhook', 0, '2026-01-01T00:00:00Z')");
    const char *args[] = {"purge", NULL};
    char *out = st_fx_run(f, 0, args);
    assert_non_null(strstr(out, "purged 0 delivered record(s)"));
    free(out);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM records"), records);
    /* --older-than keeps what is younger */
    st_db_exec(f->db, "DELETE FROM destinations WHERE name = 'late'");
    const char *older[] = {"purge", "--older-than", "1h", NULL};
    free(st_fx_run(f, 0, older));
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM records"), records);
    /* half of it pending again for file: only the delivered half goes */
    int64_t half = st_db_int(f->db, "SELECT seq FROM records ORDER BY seq LIMIT 1 OFFSET %lld",
                             (long long)(records / 2));
    st_db_exec(f->db, "UPDATE destinations SET cursor = %lld", (long long)half);
    struct stat before;
    assert_int_equal(stat(f->db, &before), 0);
    out = st_fx_run(f, 0, args);
    int64_t left = st_db_int(f->db, "SELECT count(*) FROM records");
    assert_int_equal(left, st_db_int(f->db, "SELECT count(*) FROM pending"));
    assert_true(left > 0 && left < records);
    char want[64];
    snprintf(want, sizeof want, "purged %lld delivered", (long long)(records - left));
    assert_non_null(strstr(out, want));
    free(out);
    struct stat after;
    assert_int_equal(stat(f->db, &after), 0);
    assert_true(after.st_size < before.st_size); /* incremental vacuum gave space back */
    assert_int_equal(st_db_int(f->db, "SELECT value FROM counters WHERE name = 'purged'"),
                     records - left);
    assert_string_equal("ok", "ok");
    st_db_integrity(f->db, "after the purges");
}

/* Read verbs never create or migrate: a mistyped path is an error, and
 * nothing appears there. status --check says UNKNOWN (exit 3). */
static void test_read_verbs_create_nothing(void **state)
{
    fx *f = *state;
    char typo[700];
    snprintf(typo, sizeof typo, "%s/typo.db", f->dir);
    const char *verbs[][4] = {{"status", NULL},
                              {"status", "--json", NULL},
                              {"status", "--prometheus", NULL},
                              {"pending", NULL},
                              {"dead", NULL},
                              {"export", NULL},
                              {"show", "trace_x", NULL}};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        const char *args[8] = {"--db", typo};
        for (size_t k = 0; verbs[i][k]; k++)
            args[2 + k] = verbs[i][k];
        free(st_fx_run(f, 1, args));
        char *err = st_read_file(f->err, NULL);
        if (!strstr(err, "no outbox at"))
            fail_msg("%s: stderr does not say \"no outbox at\":\n%s", verbs[i][0], err);
        free(err);
        struct stat sb;
        if (stat(typo, &sb) == 0)
            fail_msg("tracebox %s created %s", verbs[i][0], typo);
    }
    const char *check[] = {"--db", typo, "status", "--check", NULL};
    char *out = st_fx_run(f, 3, check);
    assert_non_null(strstr(out, "UNKNOWN: no outbox at"));
    free(out);
    struct stat sb;
    assert_int_not_equal(stat(typo, &sb), 0);
    /* a file that is not an outbox: UNKNOWN too, and left as it was */
    FILE *junk = fopen(typo, "w");
    fputs("not a database\n", junk);
    fclose(junk);
    out = st_fx_run(f, 3, check);
    assert_non_null(strstr(out, "UNKNOWN: "));
    free(out);
}

/* A record a dead letter points to survives purge and retention; requeue
 * --dead puts it back (and says so truthfully) and the next ship delivers
 * it. */
static void test_dead_letter_keeps_its_record(void **state)
{
    fx *f = *state;
    demo(f);
    int64_t records = st_db_int(f->db, "SELECT count(*) FROM records");
    int64_t seq = st_db_int(f->db, "SELECT seq FROM records WHERE kind = 'span' ORDER BY seq "
                                   "LIMIT 1 OFFSET 3");
    st_db_exec(f->db,
               "INSERT INTO dead_letters (destination, seq, reason, http_status, time) VALUES "
               "('file', %lld, 'HTTP 400: bad', 400, '2026-01-01T00:00:00Z')",
               (long long)seq);
    const char *purge[] = {"purge", NULL};
    char *out = st_fx_run(f, 0, purge);
    char want[64];
    snprintf(want, sizeof want, "purged %lld delivered", (long long)(records - 1));
    assert_non_null(strstr(out, want));
    free(out);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM records"), 1);
    assert_int_equal(
        st_db_int(f->db, "SELECT count(*) FROM records WHERE seq = %lld", (long long)seq), 1);

    const char *requeue[] = {"requeue", "--dead", NULL};
    out = st_fx_run(f, 0, requeue);
    assert_non_null(strstr(out, "requeued 1 dead letter(s)"));
    free(out);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM pending"), 1);
    /* nothing left to requeue: it says 0, not what it did last time */
    out = st_fx_run(f, 0, requeue);
    assert_non_null(strstr(out, "requeued 0 dead letter(s)"));
    free(out);

    /* retention (the shipper's housekeeping) keeps it while it is pending,
     * and the ship delivers it */
    st_write_file(f->ini, "[outbox]\nretention = 1ms\n[file]\ntype = file\npath = "
                          "tracebox-export.jsonl\n");
    const char *ship[] = {"ship", "--once", NULL};
    free(st_fx_run(f, 0, ship));
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM pending"), 0);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM requeued"), 0);
    /* delivered now: retention may take it */
    free(st_fx_run(f, 0, ship));
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM records"), 0);
}

/* forget drops a destination that holds records back; a configured one
 * needs --force. */
static void test_forget(void **state)
{
    fx *f = *state;
    demo(f);
    st_db_exec(f->db, "INSERT INTO destinations (name, type, cursor, created_at) VALUES "
                      "('gone', 'webhook', 0, '2026-01-01T00:00:00Z')");
    st_db_exec(f->db, "INSERT INTO dead_letters (destination, seq, reason, http_status, time) "
                      "VALUES ('gone', 1, 'HTTP 400', 400, '2026-01-01T00:00:00Z')");
    /* status says which destinations the config no longer names */
    st_write_file(f->ini, "[file]\ntype = file\npath = tracebox-export.jsonl\n");
    const char *status[] = {"status", NULL};
    char *out = st_fx_run(f, 0, status);
    assert_non_null(strstr(out, "not in the config: holds purge and retention back until "
                                "`tracebox forget gone`"));
    free(out);
    const char *json[] = {"status", "--json", NULL};
    out = st_fx_run(f, 0, json);
    cJSON *doc = cJSON_Parse(out);
    assert_non_null(doc);
    const cJSON *d;
    int seen = 0;
    cJSON_ArrayForEach(d, cJSON_GetObjectItem(doc, "destinations"))
    {
        if (strcmp(cJSON_GetObjectItem(d, "name")->valuestring, "gone") == 0) {
            assert_true(cJSON_IsFalse(cJSON_GetObjectItem(d, "configured")));
            seen++;
        }
    }
    assert_int_equal(seen, 1);
    cJSON_Delete(doc);
    free(out);
    unlink(f->ini);
    out = st_fx_run(f, 0, json); /* no config in play: unknown */
    assert_non_null(strstr(out, "\"configured\":null"));
    free(out);

    const char *purge[] = {"purge", NULL};
    out = st_fx_run(f, 0, purge);
    assert_non_null(strstr(out, "purged 0 delivered"));
    free(out);
    const char *nobody[] = {"forget", "nobody", NULL};
    free(st_fx_run(f, 1, nobody));
    const char *forget[] = {"forget", "gone", NULL};
    out = st_fx_run(f, 0, forget);
    assert_non_null(strstr(out, "forgot gone (and its 1 dead letter(s))"));
    free(out);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM destinations WHERE name = 'gone'"), 0);
    out = st_fx_run(f, 0, purge);
    assert_null(strstr(out, "purged 0 delivered"));
    free(out);
    /* a configured destination: refused without --force */
    st_write_file(f->ini, "[file]\ntype = file\npath = tracebox-export.jsonl\n");
    const char *file[] = {"forget", "file", NULL};
    free(st_fx_run(f, 1, file));
    const char *forced[] = {"forget", "file", "--force", NULL};
    free(st_fx_run(f, 0, forced));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ST_FX_OFFLINE_TEST(test_demo_ships_everything),
        ST_FX_OFFLINE_TEST(test_demo_outage_drains),
        ST_FX_OFFLINE_TEST(test_status_formats),
        ST_FX_OFFLINE_TEST(test_status_check),
        ST_FX_OFFLINE_TEST(test_show),
        ST_FX_OFFLINE_TEST(test_purge),
        ST_FX_OFFLINE_TEST(test_read_verbs_create_nothing),
        ST_FX_OFFLINE_TEST(test_dead_letter_keeps_its_record),
        ST_FX_OFFLINE_TEST(test_forget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
