/*
 * db.c — opening an outbox file safely.
 *
 * Rules (README "Architecture"): the file is created mode 0600; a file that is not an
 * SQLite database, or an SQLite database that is not ours, is refused and
 * left exactly as it was; a file that claims to be an outbox but cannot be
 * read (corrupt) is renamed aside to "<path>.corrupt-<time>" — never
 * deleted or "repaired" — with a loud message through the log function
 * (tb_set_log_callback; stderr by default), and a fresh outbox
 * is created so the application keeps capturing. Migrations are the
 * embedded schema/NNN_*.sql files, applied in order inside one
 * BEGIN IMMEDIATE transaction, tracked by PRAGMA user_version.
 */
#include "db.h"
#include "schema.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int tb__schema_version(void)
{
    return tb__migration_count ? tb__migrations[tb__migration_count - 1].version : 0;
}

tb_status tb__db_status(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return TB_OK;
    case SQLITE_NOMEM:
        return TB_NOMEM;
    case SQLITE_FULL:
        return TB_FULL;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return TB_BUSY;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return TB_CORRUPT;
    case SQLITE_READONLY:
        return TB_READONLY;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
        return TB_IO;
    default:
        return TB_ERROR;
    }
}

tb_status tb__db_error(sqlite3 *db, int rc, const char *what)
{
    /* copy at once: the next call overwrites sqlite3_errmsg */
    return tb__set_error(tb__db_status(rc), "%s: %s (sqlite %d)", what,
                         db ? sqlite3_errmsg(db) : sqlite3_errstr(rc), rc);
}

tb_status tb__db_exec(sqlite3 *db, const char *sql, const char *what)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? TB_OK : tb__db_error(db, rc, what);
}

int64_t tb__db_wal_bytes(sqlite3 *db)
{
    const char *path = sqlite3_db_filename(db, "main");
    if (!path || !*path)
        return 0;
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", path);
    struct stat st;
    return stat(wal, &st) == 0 ? (int64_t)st.st_size : 0;
}

int64_t tb__db_used_bytes(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int64_t r = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT (SELECT page_count FROM pragma_page_count()) - "
                           "(SELECT freelist_count FROM pragma_freelist_count()), "
                           "(SELECT page_size FROM pragma_page_size())",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        r = sqlite3_column_int64(st, 0) * sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    return r;
}

tb_status tb__db_counter_add(sqlite3 *db, const char *name, int64_t delta)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO counters(name, value) VALUES(?1, ?2) "
                                "ON CONFLICT(name) DO UPDATE SET value = value + ?2",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, delta);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? TB_OK : tb__db_error(db, rc, "counting refused records");
}

/* What kind of file is at `path`? stat() only, never open(): closing any
 * descriptor of a file drops every POSIX lock this process holds on it
 * (fcntl locks belong to the process, not the descriptor), so a probe's
 * open() + close() while this process has the outbox open (an admin handle
 * or the shipper opened beside the application's outbox, `tracebox
 * serve`) would silently take the outbox connection's locks away: another
 * process could then checkpoint and delete the WAL that connection still
 * writes to, and commits acknowledged after that would be lost at a crash.
 * Whether a non-empty file is SQLite, SQLite itself tells (open_once:
 * SQLITE_NOTADB), through the descriptors it shares per file. */
enum file_kind { FILE_ABSENT, FILE_EMPTY, FILE_SQLITE, FILE_OTHER, FILE_ERROR };

static enum file_kind probe(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? FILE_ABSENT : FILE_ERROR;
    if (!S_ISREG(st.st_mode))
        return FILE_OTHER;
    return st.st_size == 0 ? FILE_EMPTY : FILE_SQLITE;
}

/* Does the file start with SQLite's magic (then an unreadable header is
 * corruption, not a foreign file)? Called only once SQLite has said the
 * file is not a database: no connection of this process can be using it,
 * so this open() + close() takes no lock away (see probe). */
static bool sqlite_magic(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char head[16];
    ssize_t n = read(fd, head, sizeof head);
    close(fd);
    return n == 16 && memcmp(head, "SQLite format 3", 16) == 0;
}

static tb_status rename_aside(const char *path)
{
    char stamp[32], aside[4096];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(aside, sizeof aside, "%s.corrupt-%s", path, stamp);
    if (rename(path, aside) != 0)
        return tb__set_error(TB_CORRUPT, "%s is corrupt and could not be renamed aside: %s", path,
                             strerror(errno));
    /* carry the WAL along: it may hold committed data a salvage needs */
    static const char *sfx[] = {"-wal", "-shm"};
    for (size_t i = 0; i < 2; i++) {
        char from[4200], to[4200];
        snprintf(from, sizeof from, "%s%s", path, sfx[i]);
        snprintf(to, sizeof to, "%s%s", aside, sfx[i]);
        if (rename(from, to) != 0 && errno != ENOENT)
            tb__log(TB_LOG_WARN, "could not move %s aside: %s", from, strerror(errno));
    }
    tb__log(TB_LOG_WARN,
            "%s is corrupt; it was renamed to %s (nothing deleted) and a fresh outbox was "
            "started; what is salvageable can still be read from %s (read-only)",
            path, aside, aside);
    return TB_OK;
}

/* Read the header facts and refuse what is not ours or is too new. Reads
 * only; *have receives the schema version, *tables the number of objects. */
static tb_status check_header(sqlite3 *db, const char *path, int *have, int *tables)
{
    sqlite3_stmt *q = NULL;
    int app = 0;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT (SELECT user_version FROM pragma_user_version()),"
                                " (SELECT application_id FROM pragma_application_id()),"
                                " (SELECT count(*) FROM sqlite_master)",
                                -1, &q, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        *have = sqlite3_column_int(q, 0);
        app = sqlite3_column_int(q, 1);
        *tables = sqlite3_column_int(q, 2);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_OK)
        return tb__db_error(db, rc, path);
    if (app != TB__APP_ID && (*tables > 0 || *have != 0))
        return tb__set_error(TB_NOT_OUTBOX,
                             "%s is an SQLite database but not a tracebox outbox; left untouched "
                             "(choose another path with --db)",
                             path);
    if (*have > tb__schema_version())
        return tb__set_error(TB_TOO_NEW,
                             "%s has schema version %d, newer than this tracebox (%s) knows "
                             "(%d); upgrade tracebox",
                             path, *have, TB_VERSION_STRING, tb__schema_version());
    return TB_OK;
}

static tb_status migrate(sqlite3 *db, const char *path)
{
    tb_status st = tb__db_exec(db, "BEGIN IMMEDIATE", "starting the migration");
    if (st != TB_OK)
        return st;
    int have = 0, tables = 0;
    if ((st = check_header(db, path, &have, &tables)) != TB_OK)
        goto rollback;
    for (size_t i = 0; i < tb__migration_count; i++) {
        if (tb__migrations[i].version <= have)
            continue;
        char what[160];
        snprintf(what, sizeof what, "applying migration %s", tb__migrations[i].name);
        if ((st = tb__db_exec(db, tb__migrations[i].sql, what)) != TB_OK)
            goto rollback;
        char sql[96];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d; PRAGMA application_id = %d",
                 tb__migrations[i].version, TB__APP_ID);
        if ((st = tb__db_exec(db, sql, "setting the schema version")) != TB_OK)
            goto rollback;
    }
    return tb__db_exec(db, "COMMIT", "committing the migration");
rollback:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

/* PRAGMA journal_mode=WAL. Turning a new file to WAL needs its exclusive
 * lock, and when several processes create the same outbox at once SQLite
 * can answer SQLITE_BUSY at once rather than through the busy handler
 * (seen in test_concurrency's forked children): try again, with short
 * pauses, for as long as the busy timeout. */
static tb_status set_wal(sqlite3 *db, int busy_ms)
{
    for (int waited_ms = 0;; waited_ms += 2) {
        int rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
        if ((rc & 0xff) != SQLITE_BUSY || waited_ms >= busy_ms)
            return rc == SQLITE_OK ? TB_OK : tb__db_error(db, rc, "setting WAL mode");
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

static tb_status open_once(sqlite3 **out, const char *path, int busy_ms, int sync_full,
                           int readonly)
{
    sqlite3 *db = NULL;
    tb_status st;
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        st = tb__db_error(db, rc, path);
        goto fail;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, busy_ms);
    /* The first read of the header tells a corrupt file apart, and a file
     * that is not SQLite at all (left untouched: nothing was written) */
    rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    if ((rc & 0xff) == SQLITE_NOTADB && !sqlite_magic(path)) {
        st = tb__set_error(TB_NOT_OUTBOX,
                           "%s is not a tracebox outbox (not an SQLite file); left untouched "
                           "(choose another path with --db)",
                           path);
        goto fail;
    }
    if (rc != SQLITE_OK) {
        st = tb__db_error(db, rc, path);
        goto fail;
    }
    /* Look before writing anything: a foreign or too-new file must be
     * refused byte-for-byte untouched (migrate() checks again inside its
     * transaction, for a file that changes under us). */
    int have = 0, tables = 0;
    if ((st = check_header(db, path, &have, &tables)) != TB_OK)
        goto fail;
    if (!readonly) {
        /* a new file gets incremental auto-vacuum so purge can give space
         * back; it only takes effect before the first table exists */
        if (tables == 0 && (st = tb__db_exec(db, "PRAGMA auto_vacuum=INCREMENTAL",
                                             "setting auto_vacuum")) != TB_OK)
            goto fail;
        if ((st = set_wal(db, busy_ms)) != TB_OK)
            goto fail;
    }
    if ((st = tb__db_exec(db, sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                          "setting synchronous")) != TB_OK)
        goto fail;
    if (readonly && have == 0) {
        st = tb__set_error(TB_NOT_OUTBOX, "no outbox at %s (the file is not a tracebox outbox)",
                           path);
        goto fail;
    }
    /* a file already at the latest version needs no write lock to open (an
     * operator's sqlite3 shell may hold it) */
    if (!readonly && have < tb__migrations[tb__migration_count - 1].version &&
        (st = migrate(db, path)) != TB_OK)
        goto fail;
    *out = db;
    return TB_OK;
fail:
    sqlite3_close(db);
    return st;
}

/* ---- fork ----
 * A connection is never carried across fork(): its owner closes it in its
 * prepare hook (tb__db_close_quietly) and opens a new one afterwards. What
 * is left are SQLite's process-wide mutexes, which any thread of the
 * application may hold (Python's sqlite3 module uses the same library):
 * the unix VFS lock and the allocator's lock are taken last, before fork(),
 * so the child never inherits them held. Both are leaves in SQLite's own
 * lock order (the VFS lock is taken before the allocator's, never after). */
static sqlite3_mutex *vfs_mu, *mem_mu;

static void sqlite_prepare(void *self)
{
    (void)self;
    sqlite3_mutex_enter(vfs_mu);
    sqlite3_mutex_enter(mem_mu);
}

static void sqlite_release(void *self)
{
    (void)self;
    sqlite3_mutex_leave(mem_mu);
    sqlite3_mutex_leave(vfs_mu);
}

static tb__fork_hook sqlite_hook = {.rank = TB__FORK_RANK_LEAF,
                                    .prepare = sqlite_prepare,
                                    .parent = sqlite_release,
                                    .child = sqlite_release};
static pthread_once_t sqlite_hook_once = PTHREAD_ONCE_INIT;

static void register_sqlite_hook(void)
{
    sqlite3_initialize();
    vfs_mu = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_VFS1);
    mem_mu = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_MEM);
    tb__fork_register(&sqlite_hook);
}

sqlite3_stmt *tb__db_stmt(sqlite3 *db, const char *sql, int *rc)
{
    for (sqlite3_stmt *s = sqlite3_next_stmt(db, NULL); s; s = sqlite3_next_stmt(db, s)) {
        const char *text = sqlite3_sql(s);
        if (text && text[0] == sql[0] && !sqlite3_stmt_busy(s) && strcmp(text, sql) == 0) {
            sqlite3_reset(s);
            sqlite3_clear_bindings(s);
            *rc = SQLITE_OK;
            return s;
        }
    }
    sqlite3_stmt *s = NULL;
    *rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
    if (*rc != SQLITE_OK) {
        sqlite3_finalize(s);
        return NULL;
    }
    return s;
}

void tb__db_finalize_all(sqlite3 *db)
{
    if (!db)
        return;
    sqlite3_stmt *s;
    while ((s = sqlite3_next_stmt(db, NULL)) != NULL)
        sqlite3_finalize(s);
}

void tb__db_close_quietly(sqlite3 *db)
{
    if (!db)
        return;
    /* before fork(): no checkpoint, the WAL stays as it is */
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    sqlite3_close(db);
}

tb_status tb__db_open(sqlite3 **out, const char *path, int busy_timeout_ms, int synchronous_full,
                      int readonly)
{
    *out = NULL;
    pthread_once(&sqlite_hook_once, register_sqlite_hook);
    if (!path || !*path)
        return tb__set_error(TB_INVALID, "outbox path is empty");
    switch (probe(path)) {
    case FILE_ABSENT:
        if (readonly)
            return tb__set_error(TB_NOT_FOUND, "no outbox at %s", path);
        {
            int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd < 0 && errno != EEXIST)
                return tb__set_error(TB_IO, "cannot create %s: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
        }
        break;
    case FILE_EMPTY:
    case FILE_SQLITE:
        break;
    case FILE_OTHER:
        return tb__set_error(TB_NOT_OUTBOX,
                             "%s is not a tracebox outbox (not an SQLite file); left untouched "
                             "(choose another path with --db)",
                             path);
    case FILE_ERROR:
        return tb__set_error(TB_IO, "cannot read %s: %s", path, strerror(errno));
    }
    tb_status st = open_once(out, path, busy_timeout_ms, synchronous_full, readonly);
    if (st == TB_CORRUPT && !readonly) {
        char first[1024];
        snprintf(first, sizeof first, "%s", tb_last_error());
        if (rename_aside(path) != TB_OK)
            return TB_CORRUPT;
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
        st = open_once(out, path, busy_timeout_ms, synchronous_full, readonly);
        (void)first;
    }
    return st;
}
