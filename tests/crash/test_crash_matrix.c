/*
 * test_crash_matrix.c — SIGKILL at the points test_ingest_kill.c and
 * test_ship_kill.c do not reach (issue 7, item 1).
 *
 * test_kill_during_migration: an outbox holding 200 records is taken back
 *   to schema version 1 (PRAGMA user_version = 1 and the views of
 *   schema/002_views.sql dropped), then a forked child calls
 *   tb_outbox_open() on it — which migrates — and is SIGKILLed after a
 *   random delay drawn from [0, 1.5 x the measured open time]. Afterwards
 *   the file must be at version 1 or at the current version (never in
 *   between), pass integrity_check, hold the 200 records, and open with
 *   the library at the current version with every view present.
 *
 * test_kill_during_rebuild: the same for the migration that rebuilds the
 *   records table (schema/005_otlp_kind.sql: kind admits 'otlp') on a file
 *   of the real layout before it: migrations 001-004 and 300 records
 *   inserted with every column filled, the last seq deleted. After every
 *   kill the file is at version 4 or the current one, passes
 *   integrity_check, and once the library has opened it every row is what
 *   the old layout held (every column), and the next record gets a seq
 *   past the deleted one (seq is never reused).
 *
 * test_kill_during_purge: a large delivered outbox (8000 x 1 KB delivered
 *   records, bulk-inserted, below the destination's cursor) plus 100
 *   pending records written through the API; `tracebox purge` is SIGKILLed
 *   at a random point of its DELETE / incremental_vacuum / checkpoint.
 *   Asserted after each kill: integrity ok, every pending record present
 *   (nothing above the cursor deleted), and the DELETE atomic (either all
 *   delivered rows are gone or all are there).
 *
 * test_kill_during_lease_takeover: two long-running `tracebox ship`
 *   processes on one file (server stalls 50 ms per request, batch 20).
 *   The one holding the lease is SIGKILLed; its lease is expired by hand
 *   (the engine's minimum lease is 2 x timeout + 10 s; the test does what
 *   the clock would do), and the test waits until the *surviving* process
 *   has taken the lease over before a replacement is started. At the end
 *   every record arrived, duplicates <= batch_size x kills, integrity ok.
 *
 * test_kill_group_commit_writers: a forked child opens the outbox in
 *   `full` mode and runs 4 threads that put records concurrently (so
 *   commits are shared: group commit) and write each acknowledged id to a
 *   pipe, one write() per id, only after tb_outbox_put_json returned
 *   TB_OK. The child is SIGKILLed after a random number of acks; the ids
 *   still in the pipe count too. Every acked id must be in the file.
 *
 * Each test prints its injection counts. The seed is printed; TB_SEED=<n>
 * replays a run. TB_SOAK=1 makes every loop 10x longer (a soak run of a
 * few minutes): `TB_SOAK=1 build/dev/tests/test_crash_matrix`.
 */
#include "fixture.h"

#include "db.h"
#include "schema.h"

#include <pthread.h>

typedef st_fx fx;

/* 10 with TB_SOAK=1, else 1 */
#define SOAK (st_soak() ? 10 : 1)

/* ---- 1. SIGKILL during migration -------------------------------------- */

/* The view names schema/002_views.sql creates (read from the source so
 * the test follows the schema). */
static size_t views_of_002(char names[16][64])
{
    const char *src = getenv("TB_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/schema/002_views.sql", src && *src ? src : ".");
    char *text = st_read_file(path, NULL);
    if (!text)
        fail_msg("cannot read %s (TB_SOURCE_DIR)", path);
    size_t n = 0;
    for (char *p = strstr(text, "CREATE VIEW "); p && n < 16; p = strstr(p, "CREATE VIEW ")) {
        p += strlen("CREATE VIEW ");
        size_t l = 0;
        while (p[l] && (isalnum((unsigned char)p[l]) || p[l] == '_') && l < 63)
            l++;
        memcpy(names[n], p, l);
        names[n][l] = '\0';
        n++;
    }
    free(text);
    assert_true(n > 0);
    return n;
}

static void downgrade_to_v1(const char *db, char views[16][64], size_t n_views)
{
    char sql[2048] = "BEGIN IMMEDIATE;";
    for (size_t i = 0; i < n_views; i++) {
        size_t l = strlen(sql);
        snprintf(sql + l, sizeof sql - l, "DROP VIEW IF EXISTS %s;", views[i]);
    }
    size_t l = strlen(sql);
    snprintf(sql + l, sizeof sql - l, "PRAGMA user_version = 1; COMMIT;");
    st_db_exec(db, "%s", sql);
}

/* Fork a child that writes 'g' on a pipe, opens (and so migrates) the
 * outbox, writes 'd', and exits 0 (3 on failure). Returns its pid once the
 * 'g' arrived; *fd is the pipe's read end (the caller closes it). */
static pid_t spawn_opener(const char *db, int *fd)
{
    pid_t pid = st_fork_piped(fd);
    if (pid == 0) {
        char c = 'g';
        if (write(*fd, &c, 1) != 1)
            _exit(4);
        tb_outbox *ob = NULL;
        tb_status st = tb_outbox_open(&ob, db, NULL);
        if (st != TB_OK) {
            fprintf(stderr, "child open: %s\n", tb_last_error());
            _exit(3);
        }
        c = 'd';
        if (write(*fd, &c, 1) != 1)
            _exit(4);
        tb_outbox_close(ob);
        _exit(0);
    }
    char c = 0;
    ssize_t r;
    while ((r = read(*fd, &c, 1)) < 0 && errno == EINTR) {
    }
    assert_int_equal(r, 1);
    assert_int_equal(c, 'g');
    return pid;
}

static void test_kill_during_migration(void **state)
{
    fx *f = *state;
    st_rng_seed("migration kill");
    char views[16][64];
    size_t n_views = views_of_002(views);
    int current = tb__schema_version();
    st_populate(f->db, &f->recs, 200, 40, TB_DURABILITY_NORMAL);
    assert_int_equal(st_db_int(f->db, "PRAGMA user_version"), current);

    /* measure a clean migrating open (three runs, the quickest counts: the
     * kill lands in [0, 1.2 x that] after the child says it starts) */
    int64_t open_us = INT64_MAX;
    for (int i = 0; i < 3; i++) {
        downgrade_to_v1(f->db, views, n_views);
        int fd = -1;
        pid_t pid = spawn_opener(f->db, &fd);
        int64_t t0 = st_mono_us();
        char c = 0;
        while (read(fd, &c, 1) < 0 && errno == EINTR) {
        }
        int64_t took = st_mono_us() - t0;
        close(fd);
        assert_int_equal(c, 'd');
        int status = st_wait(pid, 30000);
        assert_true(status != -1 && WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        if (took < open_us)
            open_us = took;
        assert_int_equal(st_db_int(f->db, "PRAGMA user_version"), current);
    }

    const int iterations = 80 * SOAK;
    int kills = 0, left_old = 0, left_new = 0, exited = 0;
    for (int it = 0; it < iterations; it++) {
        downgrade_to_v1(f->db, views, n_views);
        int fd = -1;
        pid_t pid = spawn_opener(f->db, &fd);
        st_nap_us((long)st_rnd_below((unsigned)(open_us * 6 / 5) + 1));
        bool reaped = st_kill_reap(pid, NULL);
        close(fd);
        if (reaped)
            kills++;
        else
            exited++;
        /* the file as the kill left it */
        char when[64];
        snprintf(when, sizeof when, "migration kill %d", it);
        st_db_integrity(f->db, when);
        int64_t v = st_db_int(f->db, "PRAGMA user_version");
        if (v == 1) {
            left_old++;
        } else if (v == current) {
            left_new++;
        } else {
            fail_msg("%s: user_version %lld", when, (long long)v);
        }
        assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM records"), (int64_t)f->recs.n);
        /* and the library finishes the job */
        tb_outbox *ob = NULL;
        tb_status st = tb_outbox_open(&ob, f->db, NULL);
        if (st != TB_OK)
            fail_msg("%s: reopen: %s: %s", when, tb_status_str(st), tb_last_error());
        tb_outbox_close(ob);
        assert_int_equal(st_db_int(f->db, "PRAGMA user_version"), current);
        for (size_t k = 0; k < n_views; k++)
            if (st_db_int(f->db,
                          "SELECT count(*) FROM sqlite_master WHERE type = 'view' AND "
                          "name = '%s'",
                          views[k]) != 1)
                fail_msg("%s: view %s missing after the reopen", when, views[k]);
        st_db_integrity(f->db, when);
    }
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM records"), (int64_t)f->recs.n);
    /* nothing was renamed aside: the directory holds only the outbox files */
    DIR *d = opendir(f->dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, "corrupt"))
            fail_msg("a migration kill made the library rename the file aside: %s", e->d_name);
    closedir(d);
    print_message("migration kill: %d iterations, %d SIGKILLs (%d children finished first); "
                  "file left at v1 %d times, at v%d %d times; records lost 0; open took "
                  "%lld us\n",
                  iterations, kills, exited, left_old, current, left_new, (long long)open_us);
    assert_true(kills > 0);
}

/* ---- 1b. SIGKILL during the records rebuild ---------------------------- */

/* A file as tracebox made it before schema 005: migrations 001-004, `n`
 * records with every column stored (as the codec pulled them out), the
 * record with the highest seq deleted. */
static void make_v4_file(const char *path, int n)
{
    st_db_remove(path);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; BEGIN", NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s", err);
    for (size_t i = 0; i < tb__migration_count && tb__migrations[i].version <= 4; i++)
        if (sqlite3_exec(db, tb__migrations[i].sql, NULL, NULL, &err) != SQLITE_OK)
            fail_msg("%s: %s", tb__migrations[i].name, err);
    char sql[2048];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d) "
             "INSERT INTO records (kind, trace_id, span_id, parent_id, type, name, started_at, "
             "ended_at, error, body, created_at) "
             "SELECT 'span', printf('trace_%%032x', i / 10), printf('span_%%024x', i), "
             "CASE WHEN i %% 10 THEN printf('span_%%024x', i - 1) END, 'function', "
             "printf('tool_%%d', i), '2025-06-01T12:00:00Z', '2025-06-01T12:00:01Z', "
             "CASE WHEN i %% 7 = 0 THEN '{\"message\":\"boom\"}' END, "
             "json_object('object', 'trace.span', 'id', printf('span_%%024x', i), 'trace_id', "
             "printf('trace_%%032x', i / 10), 'parent_id', CASE WHEN i %% 10 THEN "
             "printf('span_%%024x', i - 1) END, 'started_at', '2025-06-01T12:00:00Z', "
             "'ended_at', '2025-06-01T12:00:01Z', 'span_data', json_object('type', 'function', "
             "'name', printf('tool_%%d', i)), 'error', CASE WHEN i %% 7 = 0 THEN "
             "json_object('message', 'boom') END), '2025-06-01T12:00:02Z' FROM c;"
             "DELETE FROM records WHERE seq = %d;"
             "PRAGMA user_version = 4; PRAGMA application_id = %d; COMMIT",
             n, n, TB__APP_ID);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s", err);
    sqlite3_close(db);
}

static void test_kill_during_rebuild(void **state)
{
    fx *f = *state;
    st_rng_seed("rebuild kill");
    const int n = 300;
    int current = tb__schema_version();
    char tmpl[1100];
    snprintf(tmpl, sizeof tmpl, "%s/v4.db", f->dir);
    make_v4_file(tmpl, n);
    /* every column as the old layout stored it */
    char *want = st_db_dup(tmpl, "SELECT group_concat(seq || '|' || coalesce(parent_id, '-') || "
                                 "'|' || type || '|' || name || '|' || started_at || '|' || "
                                 "ended_at || '|' || coalesce(error, '-') || '|' || body, "
                                 "char(10)) FROM (SELECT * FROM records ORDER BY seq)");
    int64_t open_us = INT64_MAX;
    for (int i = 0; i < 3; i++) {
        st_db_remove(f->db);
        st_copy_file(tmpl, f->db, 0600);
        int fd = -1;
        pid_t pid = spawn_opener(f->db, &fd);
        int64_t t0 = st_mono_us();
        char c = 0;
        while (read(fd, &c, 1) < 0 && errno == EINTR) {
        }
        int64_t took = st_mono_us() - t0;
        close(fd);
        assert_int_equal(c, 'd');
        int status = st_wait(pid, 30000);
        assert_true(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (took < open_us)
            open_us = took;
    }
    const int iterations = 40 * SOAK;
    int kills = 0, left_old = 0, left_new = 0;
    for (int it = 0; it < iterations; it++) {
        st_db_remove(f->db);
        st_copy_file(tmpl, f->db, 0600);
        int fd = -1;
        pid_t pid = spawn_opener(f->db, &fd);
        st_nap_us((long)st_rnd_below((unsigned)(open_us * 6 / 5) + 1));
        if (st_kill_reap(pid, NULL))
            kills++;
        close(fd);
        char when[64];
        snprintf(when, sizeof when, "rebuild kill %d", it);
        st_db_integrity(f->db, when);
        int64_t v = st_db_int(f->db, "PRAGMA user_version");
        if (v == 4)
            left_old++;
        else if (v == current)
            left_new++;
        else
            fail_msg("%s: user_version %lld", when, (long long)v);
        tb_outbox *ob = NULL;
        if (tb_outbox_open(&ob, f->db, NULL) != TB_OK)
            fail_msg("%s: reopen: %s", when, tb_last_error());
        char *got = st_db_dup(f->db, "SELECT group_concat(seq || '|' || coalesce(parent_id, '-') "
                                     "|| '|' || type || '|' || name || '|' || started_at || '|' "
                                     "|| ended_at || '|' || coalesce(error, '-') || '|' || body, "
                                     "char(10)) FROM (SELECT * FROM records ORDER BY seq)");
        if (strcmp(got, want) != 0)
            fail_msg("%s: the records differ after the rebuild", when);
        free(got);
        /* the deleted last seq is not handed out again */
        st_put_json(ob, "{\"object\":\"trace\",\"id\":\"trace_after_rebuild\"}");
        tb_outbox_close(ob);
        assert_int_equal(
            st_db_int(f->db, "SELECT seq FROM records WHERE trace_id = 'trace_after_rebuild'"),
            n + 1);
    }
    free(want);
    print_message("rebuild: %d iterations, %d killed; left at v4 %d times, at v%d %d times; "
                  "clean open took %lld us\n",
                  iterations, kills, left_old, current, left_new, (long long)open_us);
    assert_true(kills > 0);
}

/* ---- 2. SIGKILL during `tracebox purge` -------------------------------- */

/* Append `n` delivered-to-be filler rows of ~1 KB (bulk SQL: fast). */
static void bulk_filler(const char *db, int n, int64_t *id_base)
{
    st_db_exec(db,
               "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d) "
               "INSERT INTO records (kind, trace_id, span_id, type, name, body, created_at) "
               "SELECT 'span', printf('trace_%%032x', %lld + i / 5), printf('span_ff%%022x', "
               "%lld + i), 'custom', 'filler', printf('{\"pad\":\"%%s\"}', hex(randomblob(500))), "
               "'2020-01-01T00:00:00.000000+00:00' FROM c",
               n, (long long)*id_base, (long long)*id_base);
    *id_base += n;
}

static void test_kill_during_purge(void **state)
{
    fx *f = *state;
    st_rng_seed("purge kill");
    const char *args[] = {"--db", f->db, "purge", NULL};
    const int filler = 8000, pending_n = 100;
    int64_t id_base = 1;
    st_populate(f->db, &f->recs, 1, 10, TB_DURABILITY_NORMAL); /* creates the file */
    st_db_exec(f->db, "INSERT INTO destinations (name, type, cursor, created_at) "
                      "VALUES ('hook', 'webhook', 0, '2020-01-01T00:00:00.000000+00:00')");

    const int iterations = 25 * SOAK;
    int64_t purge_us = 0; /* the slowest complete purge seen */
    int kills = 0, finished = 0, deleted_none = 0, deleted_all = 0;
    size_t first_pending = 0;
    for (int it = 0; it <= iterations; it++) {
        /* a fresh load: filler (delivered) then tracked records (pending);
         * when a killed purge left the last load, it is purged again (plus
         * a smaller top-up) so the file stays near the same size */
        bulk_filler(f->db,
                    st_db_int(f->db, "SELECT count(*) FROM records") > pending_n + 1 ? filler / 8
                                                                                     : filler,
                    &id_base);
        first_pending = f->recs.n;
        st_populate(f->db, &f->recs, (size_t)pending_n, 60, TB_DURABILITY_NORMAL);
        int64_t cursor = st_seq_of(f->db, f->recs.ids[first_pending]) - 1;
        st_db_exec(f->db, "UPDATE destinations SET cursor = %lld WHERE name = 'hook'",
                   (long long)cursor);
        int64_t below =
            st_db_int(f->db, "SELECT count(*) FROM records WHERE seq <= %lld", (long long)cursor);
        int64_t above =
            st_db_int(f->db, "SELECT count(*) FROM records WHERE seq > %lld", (long long)cursor);
        assert_int_equal(above, pending_n);

        int64_t t0 = st_mono_us();
        pid_t pid = st_spawn(f->dir, f->out, f->err, args);
        if (it == 0) {
            /* the first run completes: it measures how long a purge takes */
            int status = st_wait(pid, 60000);
            assert_true(status != -1 && WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
            purge_us = st_mono_us() - t0;
        } else {
            st_nap_us((long)st_rnd_below((unsigned)(purge_us * 8 / 5) + 1));
            int status = 0;
            if (waitpid(pid, &status, WNOHANG) == pid) {
                finished++;
            } else if (st_kill_reap(pid, NULL)) {
                kills++;
            } else {
                finished++;
            }
        }
        char when[64];
        snprintf(when, sizeof when, "purge kill %d", it);
        st_db_integrity(f->db, when);
        /* nothing pending was touched */
        assert_int_equal(
            st_db_int(f->db, "SELECT count(*) FROM records WHERE seq > %lld", (long long)cursor),
            pending_n);
        assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM pending"), pending_n);
        for (size_t k = first_pending; k < f->recs.n; k++)
            if (st_seq_of(f->db, f->recs.ids[k]) <= cursor)
                fail_msg("%s: pending record %s is missing", when, f->recs.ids[k]);
        /* the DELETE is one transaction: all or nothing */
        int64_t left =
            st_db_int(f->db, "SELECT count(*) FROM records WHERE seq <= %lld", (long long)cursor);
        if (left == 0)
            deleted_all++;
        else if (left == below)
            deleted_none++;
        else
            fail_msg("%s: %lld of %lld delivered rows left: the purge was not atomic", when,
                     (long long)left, (long long)below);
    }
    int code = st_run_cli(f->dir, f->out, f->err, 60000, args);
    assert_int_equal(code, 0);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM records"), pending_n);
    st_db_integrity(f->db, "after the final purge");
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, f->db, NULL), TB_OK);
    tb_outbox_close(ob);
    print_message("purge kill: %d iterations of %d delivered + %d pending records, %d SIGKILLs "
                  "(%d purges finished first; delete committed %d times, not at all %d times); "
                  "pending lost 0; a purge took %lld ms\n",
                  iterations, filler, pending_n, kills, finished, deleted_all, deleted_none,
                  (long long)(purge_us / 1000));
    assert_true(kills > 0);
}

/* ---- 3. SIGKILL of the lease holder; the other shipper takes over ----- */

#define LEASE_BATCH 20

static pid_t spawn_shipper(fx *f, int slot)
{
    char out[400], err[400];
    snprintf(out, sizeof out, "%s/ship%d.out", f->dir, slot);
    snprintf(err, sizeof err, "%s/ship%d.err", f->dir, slot);
    const char *args[] = {"--db", f->db, "--config", f->ini, "ship", NULL};
    return st_spawn(f->dir, out, err, args);
}

/* The pid inside a lease owner "host:pid:rand" (0 when none). */
static pid_t owner_pid(const char *owner)
{
    const char *a = strchr(owner, ':');
    if (!a)
        return 0;
    return (pid_t)strtol(a + 1, NULL, 10);
}

static void test_kill_during_lease_takeover(void **state)
{
    fx *f = *state;
    st_rng_seed("lease takeover kill");
    st_fx_server(f);
    assert_int_equal(tb_test_server_control(&f->srv, "{\"mode\":\"stall\",\"seconds\":0.05}"), 0);
    char text[1024];
    snprintf(text, sizeof text,
             "[shipper]\nlease = 1s\npoll_interval = 20ms\nbackoff_base = 10ms\n"
             "backoff_cap = 50ms\n\n[hook]\ntype = webhook\nurl = %s/hook\nbatch_size = %d\n"
             "timeout = 2s\n",
             f->srv.url, LEASE_BATCH);
    st_write_file(f->ini, text);
    st_populate(f->db, &f->recs, 400, 40, TB_DURABILITY_NORMAL);

    pid_t sh[2];
    sh[0] = spawn_shipper(f, 0);
    sh[1] = spawn_shipper(f, 1);
    const int want = 12 * SOAK;
    int kills = 0, takeovers = 0, respawns = 0, rounds = 0;
    int64_t t0 = st_mono_ms();
    while (kills < want && rounds < want * 4) {
        rounds++;
        /* wait for a holder */
        char owner[128] = "";
        pid_t holder = 0;
        for (int tries = 0; tries < 5000 && !holder; tries++) {
            if (st_db_text(f->db, owner, sizeof owner,
                           "SELECT lease_owner FROM destinations WHERE name = 'hook'"))
                holder = owner_pid(owner);
            if (!holder)
                st_nap_ms(1);
        }
        if (!holder)
            fail_msg("round %d: no shipper took the lease within 5 s", rounds);
        int slot = holder == sh[0] ? 0 : holder == sh[1] ? 1 : -1;
        if (slot < 0)
            fail_msg("round %d: lease owner %s is neither shipper (%d, %d)", rounds, owner,
                     (int)sh[0], (int)sh[1]);
        st_nap_us((long)st_rnd_below(60000)); /* a random point inside the lease */
        if (!st_kill_reap(holder, NULL))
            fail_msg("round %d: shipper %d was not running", rounds, (int)holder);
        kills++;
        /* the clock runs out the dead owner's lease (see the top comment) */
        st_db_exec(f->db,
                   "UPDATE destinations SET lease_until = '2000-01-01T00:00:00.000000+00:00' "
                   "WHERE lease_owner = '%s'",
                   owner);
        /* the survivor, still running, takes the destination over */
        bool taken = false;
        for (int tries = 0; tries < 5000 && !taken; tries++) {
            char now_owner[128] = "";
            st_db_text(f->db, now_owner, sizeof now_owner,
                       "SELECT lease_owner FROM destinations WHERE name = 'hook'");
            if (strcmp(now_owner, owner) != 0)
                taken = true;
            else
                st_nap_ms(1);
        }
        if (!taken)
            fail_msg("round %d: the surviving shipper did not take over an expired lease", rounds);
        takeovers++;
        sh[slot] = spawn_shipper(f, slot);
        respawns++;
        if (st_db_int(f->db, "SELECT count(*) FROM pending") < 100)
            st_populate(f->db, &f->recs, 200, 40, TB_DURABILITY_NORMAL);
    }
    int64_t loop_ms = st_mono_ms() - t0;
    for (int i = 0; i < 2; i++) {
        /* a shipper respawned a moment ago may not have blocked SIGTERM yet
         * (it does so right after start): dying of it is fine here */
        kill(sh[i], SIGTERM);
        int status = st_wait(sh[i], 30000);
        if (status == -1 ||
            !(WIFEXITED(status) || (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)))
            fail_msg("shipper %d did not stop on SIGTERM (status 0x%x)", i, status);
    }
    st_db_exec(f->db, "UPDATE destinations SET lease_owner = NULL, lease_until = NULL, "
                      "next_attempt_at = NULL");
    assert_int_equal(tb_test_server_control(&f->srv, "{\"mode\":\"ok\"}"), 0);
    st_arrivals a;
    size_t distinct, dups, max_per;
    st_fx_final_ship(f, &a, &distinct, &dups, &max_per);
    print_message("lease takeover kill: %d SIGKILLs of the lease holder in %lld ms, %d "
                  "takeovers by the surviving shipper, %d respawns; %zu records, %zu arrivals "
                  "in %zu requests, %zu duplicates (bound %d), records lost %zu\n",
                  kills, (long long)loop_ms, takeovers, respawns, f->recs.n, a.n, a.requests, dups,
                  LEASE_BATCH * kills, f->recs.n - distinct);
    st_arrivals_free(&a);
    assert_int_equal(distinct, f->recs.n);
    assert_true(dups <= (size_t)LEASE_BATCH * (size_t)kills);
    assert_int_equal(takeovers, kills);
    st_db_integrity(f->db, "after the lease takeovers");
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM pending"), 0);
}

/* ---- 4. SIGKILL of 4 writer threads in group commit ------------------- */

#define GC_THREADS 4

typedef struct gc_arg {
    tb_outbox *ob;
    int fd;
    unsigned iteration;
    unsigned thread;
} gc_arg;

static void *gc_writer(void *p)
{
    gc_arg *a = p;
    char json[1024], line[64];
    for (unsigned i = 0; i < 100000; i++) {
        char id[40];
        snprintf(id, sizeof id, "span_%08x%08x%08x", a->iteration, a->thread, i);
        snprintf(json, sizeof json,
                 "{\"object\":\"trace.span\",\"id\":\"%s\",\"trace_id\":\"trace_%032x\","
                 "\"parent_id\":null,\"started_at\":\"2025-06-01T12:00:00.000Z\","
                 "\"ended_at\":\"2025-06-01T12:00:00.500Z\",\"span_data\":{\"type\":"
                 "\"custom\",\"name\":\"gc\",\"data\":{\"i\":%u}},\"error\":null}",
                 id, a->iteration, i);
        tb_status st = tb_outbox_put_json(a->ob, json, (size_t)-1, NULL);
        int n = st == TB_OK ? snprintf(line, sizeof line, "%s\n", id)
                            : snprintf(line, sizeof line, "E%d\n", (int)st);
        /* one write() of < PIPE_BUF bytes: atomic among the threads */
        if (write(a->fd, line, (size_t)n) != n)
            break;
    }
    return NULL;
}

static pid_t spawn_gc_child(const char *db, unsigned iteration, int *read_fd)
{
    pid_t pid = st_fork_piped(read_fd);
    if (pid == 0) {
        tb_outbox *ob = NULL;
        tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT; /* full: fsync, group commit */
        if (tb_outbox_open(&ob, db, &o) != TB_OK)
            _exit(3);
        pthread_t th[GC_THREADS];
        gc_arg args[GC_THREADS];
        for (unsigned t = 0; t < GC_THREADS; t++) {
            args[t] = (gc_arg){ob, *read_fd, iteration, t}; /* the write end, here */
            if (pthread_create(&th[t], NULL, gc_writer, &args[t]) != 0)
                _exit(5);
        }
        for (unsigned t = 0; t < GC_THREADS; t++)
            pthread_join(th[t], NULL);
        _exit(0);
    }
    return pid;
}

static void test_kill_group_commit_writers(void **state)
{
    fx *f = *state;
    st_rng_seed("group commit kill");
    const int iterations = 40 * SOAK;
    int kills = 0;
    size_t total_acked = 0, max_acked = 0, in_pipe = 0;
    st_recs acked = {0};
    for (int it = 0; it < iterations; it++) {
        int fd = -1;
        pid_t pid = spawn_gc_child(f->db, (unsigned)it + 1, &fd);
        st_lines lr = {.fd = fd};
        unsigned want = 1 + st_rnd_below(300);
        size_t first = acked.n;
        char id[64];
        for (unsigned k = 0; k < want && st_read_line(&lr, id, sizeof id); k++) {
            if (id[0] == 'E')
                fail_msg("iteration %d: a put failed in the child: %s", it, id);
            st_recs_push(&acked, id);
        }
        if (!st_kill_reap(pid, NULL))
            fail_msg("iteration %d: the writer child died before it was killed", it);
        kills++;
        /* acks printed before the death were promised too */
        size_t before = acked.n;
        while (st_read_line(&lr, id, sizeof id))
            if (id[0] != 'E')
                st_recs_push(&acked, id);
        in_pipe += acked.n - before;
        close(fd);
        size_t this_it = acked.n - first;
        total_acked += this_it;
        if (this_it > max_acked)
            max_acked = this_it;

        char when[64];
        snprintf(when, sizeof when, "group commit kill %d", it);
        st_db_integrity(f->db, when);
        sqlite3 *db = st_db_open(f->db);
        sqlite3_stmt *q = NULL;
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT count(*) FROM records WHERE kind = 'span' "
                                            "AND span_id = ?1",
                                            -1, &q, NULL),
                         SQLITE_OK);
        for (size_t k = first; k < acked.n; k++) {
            sqlite3_reset(q);
            sqlite3_bind_text(q, 1, acked.ids[k], -1, SQLITE_STATIC);
            assert_int_equal(sqlite3_step(q), SQLITE_ROW);
            if (sqlite3_column_int(q, 0) != 1)
                fail_msg("%s: acknowledged %s is missing", when, acked.ids[k]);
        }
        sqlite3_finalize(q);
        sqlite3_close(db);
    }
    int64_t rows = st_db_int(f->db, "SELECT count(*) FROM records");
    print_message("group commit kill: %d SIGKILLs of a 4-thread writer, %zu ids acked (%zu "
                  "read from the pipe after the kill, at most %zu in one run), %lld rows "
                  "stored, acked records lost 0\n",
                  kills, total_acked, in_pipe, max_acked, (long long)rows);
    assert_true(rows >= (int64_t)total_acked);
    st_recs_free(&acked);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill_during_migration, st_fx_setup_offline,
                                        st_fx_teardown),
        cmocka_unit_test_setup_teardown(test_kill_during_rebuild, st_fx_setup_offline,
                                        st_fx_teardown),
        cmocka_unit_test_setup_teardown(test_kill_during_purge, st_fx_setup_offline,
                                        st_fx_teardown),
        cmocka_unit_test_setup_teardown(test_kill_during_lease_takeover, st_fx_setup_offline,
                                        st_fx_teardown),
        cmocka_unit_test_setup_teardown(test_kill_group_commit_writers, st_fx_setup_offline,
                                        st_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
