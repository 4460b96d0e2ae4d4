/*
 * test_io_faults.c — the outbox file under I/O faults (issue 7, item 2).
 *
 * test_disk_full: a 2 MiB tmpfs is mounted on the test's temp dir (needs
 *   root; the test is skipped with a message otherwise), a filler file
 *   takes most of it, and records are put until the disk is full. Asserted:
 *   the failing put returns TB_FULL (or TB_IO) with a message that says the
 *   disk is full, later puts keep failing cleanly, the file passes
 *   integrity_check while full, the refusals are counted in
 *   counters.refused_full once a write succeeds again, and after the filler
 *   is deleted puts work again and every acknowledged record is there.
 *
 * test_read_only: (a) the tmpfs is remounted read-only: opening for writing
 *   fails with a clear message naming the file, the file is untouched, and
 *   the read-only open / `tracebox status` behaviour is printed; (b) a
 *   chmod 0400 file opened by an unprivileged user (a forked child that
 *   drops to uid/gid 65534; root ignores permissions): a clear error.
 *
 * test_file_deleted_under_shipper / test_file_replaced_under_shipper: a
 *   running tb_shipper_start() thread whose file is unlinked (with its -wal
 *   and -shm, as `rm outbox.db*` does), or atomically replaced by another
 *   outbox (rename over it). Asserted: the shipper does not crash and
 *   stops within its timeout; what it did meanwhile is printed; the file now
 *   at the path passes integrity_check, holds its own records, and a fresh
 *   shipper delivers them all.
 *
 * test_wal_recovered_after_kill: a forked writer commits records (into the
 *   WAL, no checkpoint) and is SIGKILLed. The main file alone does not hold
 *   them (checked on a copy without the WAL); opening the outbox recovers
 *   the WAL: every acknowledged record is present, integrity ok.
 *
 * Each test prints how many times its fault was injected.
 */
#define _GNU_SOURCE 1
#include "fixture.h"

#include <grp.h>
#include <sys/mount.h>

typedef st_fx fx;

/* The tmpfs of the test that mounted one (see mount_small_fs). */
static char g_mnt[300];
static bool g_mounted;

static int setup(void **state)
{
    g_mounted = false;
    return st_fx_setup_offline(state);
}

static int teardown(void **state)
{
    if (g_mounted) {
        st_dir_remove(g_mnt); /* tmpfs content goes with the mount anyway */
        if (umount2(g_mnt, MNT_DETACH) != 0)
            fprintf(stderr, "umount %s: %s\n", g_mnt, strerror(errno));
        rmdir(g_mnt);
        g_mounted = false;
    }
    return st_fx_teardown(state);
}

/* Mount a tmpfs of `size` on dir/mnt; the outbox goes there. Skips the
 * test (with a message) when mounting is not allowed. */
static void mount_small_fs(fx *f, const char *size)
{
    snprintf(g_mnt, sizeof g_mnt, "%s/mnt", f->dir);
    assert_int_equal(mkdir(g_mnt, 0700), 0);
    char opts[64];
    snprintf(opts, sizeof opts, "size=%s,mode=0700", size);
    if (mount("tmpfs", g_mnt, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) {
        print_message("SKIP: cannot mount a %s tmpfs (%s); run as root to test a full disk "
                      "and a read-only file system\n",
                      size, strerror(errno));
        rmdir(g_mnt);
        skip();
    }
    g_mounted = true;
    snprintf(f->db, sizeof f->db, "%s/outbox.db", g_mnt);
}

static bool has_word(const char *msg, const char *const *words)
{
    for (size_t i = 0; words[i]; i++)
        if (st_contains_ci(msg, words[i]))
            return true;
    return false;
}

/* ---- disk full ---------------------------------------------------------- */

static void test_disk_full(void **state)
{
    fx *f = *state;
    mount_small_fs(f, "2m");
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, f->db, NULL), TB_OK); /* full durability */
    st_recs_put(ob, &f->recs, 5, 100);

    /* fill the disk but ~600 KiB */
    char filler[512];
    snprintf(filler, sizeof filler, "%s/filler", g_mnt);
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    char block[4096];
    memset(block, 'f', sizeof block);
    size_t want = 2 * 1024 * 1024 - 600 * 1024, wrote = 0;
    while (wrote < want) {
        ssize_t w = write(fd, block, sizeof block);
        if (w <= 0)
            break;
        wrote += (size_t)w;
    }
    close(fd);

    int fulls = 0, ios = 0, later = 0;
    tb_status first = TB_OK;
    char first_msg[600] = "";
    for (int i = 0; i < 2000 && fulls + ios < 5; i++) {
        char id[64];
        char *json = st_next_record_json(&f->recs, 2000, id);
        tb_status st = tb_outbox_put_json(ob, json, (size_t)-1, NULL);
        free(json);
        if (st == TB_OK) {
            if (fulls + ios > 0)
                later++;
            st_recs_push(&f->recs, id);
            continue;
        }
        if (st != TB_FULL && st != TB_IO)
            fail_msg("put on a full disk: %s: %s", tb_status_str(st), tb_outbox_errmsg(ob));
        if (first == TB_OK) {
            first = st;
            snprintf(first_msg, sizeof first_msg, "%s", tb_outbox_errmsg(ob));
        }
        if (st == TB_FULL)
            fulls++;
        else
            ios++;
    }
    if (first == TB_OK)
        fail_msg("2000 records of 2 KB fitted in ~600 KiB?");
    print_message("disk full: %d puts refused (%d TB_FULL, %d TB_IO), %d later puts fitted in "
                  "freed pages; %zu acknowledged; first message: %s\n",
                  fulls + ios, fulls, ios, later, f->recs.n, first_msg);
    static const char *const full_words[] = {"full", "space", "disk", NULL};
    if (!has_word(first_msg, full_words))
        fail_msg("the message does not say the disk is full: %s", first_msg);
    assert_int_equal(first, TB_FULL);

    /* while full: the file is sound and holds every acknowledged record */
    st_db_integrity(f->db, "while the disk is full");
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM records"), (int64_t)f->recs.n);

    /* space comes back: writing resumes on the same handle */
    assert_int_equal(unlink(filler), 0);
    st_recs_put(ob, &f->recs, 20, 2000);
    tb_outbox_close(ob);
    st_db_integrity(f->db, "once the space came back");
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM records"), (int64_t)f->recs.n);
    for (size_t i = 0; i < f->recs.n; i++)
        if (st_seq_of(f->db, f->recs.ids[i]) < 0)
            fail_msg("acknowledged %s is missing", f->recs.ids[i]);
    int64_t counted = st_db_int(f->db, "SELECT value FROM counters WHERE name = 'refused_full'");
    print_message("disk full: refused_full counter = %lld (refusals %d); records lost 0\n",
                  (long long)counted, fulls);
    assert_int_equal(counted, fulls);
}

/* ---- read-only ------------------------------------------------------------ */

static void test_read_only(void **state)
{
    fx *f = *state;
    mount_small_fs(f, "4m");
    st_populate(f->db, &f->recs, 10, 50, TB_DURABILITY_FULL);
    struct stat before;
    assert_int_equal(stat(f->db, &before), 0);
    if (mount(NULL, g_mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL) != 0) {
        print_message("SKIP: cannot remount read-only: %s\n", strerror(errno));
        skip();
    }
    tb_outbox *ob = NULL;
    tb_status st = tb_outbox_open(&ob, f->db, NULL);
    char msg[600];
    snprintf(msg, sizeof msg, "%s", tb_last_error());
    print_message("read-only fs: tb_outbox_open for writing: %s: %s\n", tb_status_str(st), msg);
    assert_int_not_equal(st, TB_OK);
    assert_null(ob);
    assert_non_null(strstr(msg, f->db));
    static const char *const ro_words[] = {"read-only", "readonly", "read only", "permission",
                                           "cannot",    "unable",   NULL};
    if (!has_word(msg, ro_words))
        fail_msg("the message does not say the file cannot be written: %s", msg);
    struct stat after;
    assert_int_equal(stat(f->db, &after), 0);
    assert_int_equal(after.st_size, before.st_size);
    assert_int_equal(after.st_mtime, before.st_mtime);

    /* reading it: report what happens (WAL needs a -shm next to the file) */
    tb_outbox_options ro = TB_OUTBOX_OPTIONS_INIT;
    ro.readonly = 1;
    st = tb_outbox_open(&ob, f->db, &ro);
    print_message("read-only fs: tb_outbox_open(readonly): %s%s%s\n", tb_status_str(st),
                  st == TB_OK ? "" : ": ", st == TB_OK ? "" : tb_last_error());
    tb_outbox_close(ob);
    ob = NULL;
    char out[400], err[400];
    snprintf(out, sizeof out, "%s/status.out", f->dir);
    snprintf(err, sizeof err, "%s/status.err", f->dir);
    const char *args[] = {"--db", f->db, "status", NULL};
    int code = st_run_cli(f->dir, out, err, 30000, args);
    char *e = st_read_file(err, NULL);
    print_message("read-only fs: tracebox status exit %d; stderr: %s\n", code, e ? e : "");
    free(e);
    if (mount(NULL, g_mnt, NULL, MS_REMOUNT, NULL) != 0)
        fail_msg("cannot remount read-write: %s", strerror(errno));

    /* (b) chmod 0400 and an unprivileged opener */
    char db2[400];
    snprintf(db2, sizeof db2, "%s/perm.db", f->dir);
    st_recs r2 = {0};
    st_populate(db2, &r2, 3, 20, TB_DURABILITY_FULL);
    st_recs_free(&r2);
    const uid_t nobody = 65534;
    if (chown(f->dir, nobody, nobody) != 0 || chown(db2, nobody, nobody) != 0 ||
        chmod(db2, 0400) != 0) {
        print_message("SKIP (b): cannot chown to uid %d: %s\n", (int)nobody, strerror(errno));
        return;
    }
    int fd = -1;
    pid_t pid = st_fork_piped(&fd);
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(nobody) != 0 || setuid(nobody) != 0)
            _exit(99);
        tb_outbox *o2 = NULL;
        tb_status s2 = tb_outbox_open(&o2, db2, NULL);
        char line[700];
        int n = snprintf(line, sizeof line, "%d %s", (int)s2, s2 == TB_OK ? "" : tb_last_error());
        if (s2 == TB_OK) {
            /* what the first write then says */
            st_recs r3 = {0};
            char id[64];
            char *json = st_next_record_json(&r3, 10, id);
            tb_status s3 = tb_outbox_put_json(o2, json, (size_t)-1, NULL);
            n = snprintf(line, sizeof line, "%d (open ok; first put: %s: %s)", (int)s2,
                         tb_status_str(s3), s3 == TB_OK ? "" : tb_outbox_errmsg(o2));
        }
        if (write(fd, line, (size_t)n) != n)
            _exit(98);
        tb_outbox_close(o2);
        _exit(0);
    }
    char line[700] = "";
    size_t len = 0;
    ssize_t n;
    while (len < sizeof line - 1 && (n = read(fd, line + len, sizeof line - 1 - len)) > 0)
        len += (size_t)n;
    line[len] = '\0';
    close(fd);
    int status = st_wait(pid, 30000);
    assert_true(status != -1 && WIFEXITED(status));
    if (WEXITSTATUS(status) == 99) {
        print_message("SKIP (b): cannot drop privileges\n");
        return;
    }
    assert_int_equal(WEXITSTATUS(status), 0);
    print_message("chmod 0400, opened by uid %d: %s\n", (int)nobody, line);
    int code2 = (int)strtol(line, NULL, 10);
    assert_int_equal(code2, TB_READONLY);
    assert_non_null(strstr(line, db2));
    if (!has_word(line, ro_words))
        fail_msg("the message does not say the file cannot be written: %s", line);
    /* untouched, still 0400 */
    struct stat sb;
    assert_int_equal(stat(db2, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0400);
}

static void shipper_config(fx *f)
{
    st_fx_server(f);
    st_fx_parse(f,
                "[shipper]\npoll_interval = 20ms\nbackoff_base = 10ms\nbackoff_cap = 50ms\n\n"
                "[hook]\ntype = webhook\nurl = %s/hook\nbatch_size = 10\ntimeout = 2s\n",
                f->srv.url);
}

/* Poll until `n` ids arrived on /hook (bounded: 10 s). */
static bool wait_arrived(fx *f, size_t n)
{
    for (int i = 0; i < 1000; i++) {
        if (st_arrived_ids(&f->srv) >= n)
            return true;
        st_nap_ms(10);
    }
    return false;
}

/* After the fault: the file at the path is sound and its records ship. */
static void fresh_shipper_delivers(fx *f, const st_recs *expected, const char *what)
{
    st_db_integrity(f->db, what);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM records"), (int64_t)expected->n);
    assert_int_equal(tb_test_server_reset(&f->srv), 0);
    tb_ship_report r;
    assert_int_equal(tb_ship_once(f->db, f->cfg, NULL, &r), TB_OK);
    st_arrivals a;
    st_arrivals_get(&f->srv, NULL, &a);
    size_t distinct, dups, max_per;
    st_count_arrivals(&a, expected, &distinct, &dups, &max_per);
    st_arrivals_free(&a);
    print_message("%s: a fresh shipper delivered %lld (all %zu records of the new file "
                  "arrived: %s)\n",
                  what, (long long)r.delivered, expected->n,
                  distinct == expected->n ? "yes" : "no");
    assert_int_equal(distinct, expected->n);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM pending"), 0);
}

static void test_file_deleted_under_shipper(void **state)
{
    fx *f = *state;
    shipper_config(f);
    st_populate(f->db, &f->recs, 30, 40, TB_DURABILITY_NORMAL);
    tb_shipper *sh = NULL;
    assert_int_equal(tb_shipper_start(&sh, f->db, f->cfg, NULL), TB_OK);
    assert_true(wait_arrived(f, 30));

    st_db_remove(f->db);
    /* the application carries on: a new outbox appears at the same path */
    st_recs fresh = {0};
    st_populate(f->db, &fresh, 25, 40, TB_DURABILITY_NORMAL);
    tb_shipper_wake(sh);
    /* give the running shipper a chance to act on the new state: poll
     * until it has delivered the new records or 1 s passed (either is an
     * outcome to report) */
    size_t before = st_arrived_ids(&f->srv);
    for (int i = 0; i < 50 && st_arrived_ids(&f->srv) < before + 25; i++) {
        tb_shipper_wake(sh);
        st_nap_ms(20);
    }
    size_t after = st_arrived_ids(&f->srv);
    int64_t t0 = st_mono_ms();
    tb_status st = tb_shipper_stop(sh, 5000);
    print_message("file deleted under a running shipper: injected 1; the running shipper "
                  "delivered %zu of the 25 records written to the new file; "
                  "tb_shipper_stop: %s in %lld ms\n",
                  after - before, tb_status_str(st), (long long)(st_mono_ms() - t0));
    assert_int_equal(st, TB_OK);
    fresh_shipper_delivers(f, &fresh, "file deleted");
    st_recs_free(&fresh);
}

static void test_file_replaced_under_shipper(void **state)
{
    fx *f = *state;
    shipper_config(f);
    st_populate(f->db, &f->recs, 30, 40, TB_DURABILITY_NORMAL);
    char other[512];
    snprintf(other, sizeof other, "%s/other.db", f->dir);
    st_recs fresh = {0};
    st_populate(other, &fresh, 25, 40, TB_DURABILITY_NORMAL); /* closed: no -wal left */
    tb_shipper *sh = NULL;
    assert_int_equal(tb_shipper_start(&sh, f->db, f->cfg, NULL), TB_OK);
    assert_true(wait_arrived(f, 30));

    /* replace: rename another outbox over the path (the old -wal/-shm stay) */
    assert_int_equal(rename(other, f->db), 0);
    size_t before = st_arrived_ids(&f->srv);
    for (int i = 0; i < 50 && st_arrived_ids(&f->srv) < before + 25; i++) {
        tb_shipper_wake(sh);
        st_nap_ms(20);
    }
    size_t after = st_arrived_ids(&f->srv);
    int64_t t0 = st_mono_ms();
    tb_status st = tb_shipper_stop(sh, 5000);
    print_message("file replaced under a running shipper: injected 1; the running shipper "
                  "delivered %zu of the 25 records of the new file; tb_shipper_stop: %s in "
                  "%lld ms\n",
                  after - before, tb_status_str(st), (long long)(st_mono_ms() - t0));
    assert_int_equal(st, TB_OK);

    /* What is left: SQLite does not checkpoint or delete the WAL of a file
     * that moved, so the replaced file's -wal stays next to the new file.
     * Opened as is, the pair mixes two databases (SQLite's mispaired-WAL
     * hazard): shown on a copy, not asserted (what it reads varies). */
    char wal[512], shm[512];
    snprintf(wal, sizeof wal, "%s-wal", f->db);
    snprintf(shm, sizeof shm, "%s-shm", f->db);
    struct stat sb;
    bool stale = stat(wal, &sb) == 0 && sb.st_size > 0;
    if (stale) {
        char mix[512], mixwal[520];
        snprintf(mix, sizeof mix, "%s/mix.db", f->dir);
        snprintf(mixwal, sizeof mixwal, "%s-wal", mix);
        st_copy_file(f->db, mix, 0600);
        st_copy_file(wal, mixwal, 0600);
        sqlite3 *db = NULL;
        char seen[300] = "cannot open";
        if (sqlite3_open_v2(mix, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
            sqlite3_stmt *q = NULL;
            if (sqlite3_prepare_v2(db,
                                   "SELECT (SELECT count(*) FROM records), "
                                   "(SELECT group_concat(integrity_check) FROM "
                                   "pragma_integrity_check)",
                                   -1, &q, NULL) == SQLITE_OK &&
                sqlite3_step(q) == SQLITE_ROW)
                snprintf(seen, sizeof seen, "%lld records, integrity_check: %.120s",
                         (long long)sqlite3_column_int64(q, 0), sqlite3_column_text(q, 1));
            else
                snprintf(seen, sizeof seen, "%s", sqlite3_errmsg(db));
            sqlite3_finalize(q);
        }
        sqlite3_close(db);
        print_message("file replaced: the old file's WAL (%lld bytes) was left at %s-wal; the "
                      "new file opened with it reads as: %s (the new file has %zu records). "
                      "Remedy: stop every process before replacing an outbox, or remove the "
                      "stale -wal/-shm first\n",
                      (long long)sb.st_size, "<outbox>", seen, fresh.n);
        unlink(wal);
        unlink(shm);
    } else {
        print_message("file replaced: no stale WAL was left next to the new file\n");
    }
    fresh_shipper_delivers(f, &fresh, "file replaced");
    st_recs_free(&fresh);
}

/* ---- a WAL left by a killed writer -------------------------------------- */

static void test_wal_recovered_after_kill(void **state)
{
    fx *f = *state;
    const int rounds = 5, per_round = 30;
    char wal[512], copy[512];
    snprintf(wal, sizeof wal, "%s-wal", f->db);
    snprintf(copy, sizeof copy, "%s/main-only.db", f->dir);
    for (int round = 0; round < rounds; round++) {
        int fd = -1;
        pid_t pid = st_fork_piped(&fd);
        if (pid == 0) {
            tb_outbox *ob = NULL;
            if (tb_outbox_open(&ob, f->db, NULL) != TB_OK)
                _exit(3);
            st_recs mine = {0};
            for (int i = 0; i < per_round; i++) {
                char id[64];
                char *json = st_next_record_json(&mine, 100, id);
                if (tb_outbox_put_json(ob, json, (size_t)-1, NULL) != TB_OK)
                    _exit(4);
                free(json);
                char line[80];
                int n = snprintf(line, sizeof line, "%s\n", id);
                if (write(fd, line, (size_t)n) != n)
                    _exit(5);
            }
            /* committed, not checkpointed, not closed: wait for the kill */
            for (;;)
                pause();
        }
        FILE *in = fdopen(fd, "r");
        assert_non_null(in);
        char line[80];
        int got = 0;
        while (got < per_round && fgets(line, sizeof line, in)) {
            line[strcspn(line, "\n")] = '\0';
            st_recs_push(&f->recs, line);
            got++;
        }
        assert_int_equal(got, per_round);
        kill(pid, SIGKILL);
        int status = st_wait(pid, 10000);
        assert_true(status != -1 && WIFSIGNALED(status));
        fclose(in);

        struct stat sb;
        assert_int_equal(stat(wal, &sb), 0);
        assert_true(sb.st_size > 0);
        /* the main file alone lacks this round's records */
        st_copy_file(f->db, copy, 0600);
        int64_t in_main = 0;
        if (st_db_int(copy, "SELECT count(*) FROM sqlite_master WHERE name = 'records'") == 1)
            in_main = st_db_int(copy, "SELECT count(*) FROM records");
        char p2[600];
        unlink(copy);
        snprintf(p2, sizeof p2, "%s-wal", copy);
        unlink(p2);
        snprintf(p2, sizeof p2, "%s-shm", copy);
        unlink(p2);
        assert_true(in_main < (int64_t)f->recs.n);

        /* opening recovers the WAL */
        tb_outbox *ob = NULL;
        assert_int_equal(tb_outbox_open(&ob, f->db, NULL), TB_OK);
        tb_outbox_close(ob);
        st_db_integrity(f->db, "after the WAL recovery");
        assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM records"), (int64_t)f->recs.n);
        for (size_t i = 0; i < f->recs.n; i++)
            if (st_seq_of(f->db, f->recs.ids[i]) < 0)
                fail_msg("round %d: acknowledged %s is missing", round, f->recs.ids[i]);
        print_message("WAL recovery round %d: WAL %lld bytes, main file alone held %lld of "
                      "%zu records, all %zu present after the open\n",
                      round, (long long)sb.st_size, (long long)in_main, f->recs.n, f->recs.n);
    }
    print_message("WAL left by a killed writer: injected %d times, records lost 0\n", rounds);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_deleted_under_shipper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_replaced_under_shipper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_recovered_after_kill, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
