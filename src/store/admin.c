/*
 * admin.c — the public admin API (include/tracebox/admin.h): a handle on
 * one connection, argument checks, file sizes, and the store's statements
 * (store.c) behind each call. No SQL here.
 */
#include "db.h"
#include "store.h"

#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

struct tb_admin {
    sqlite3 *db;
    char *path;
    bool readonly;
};

tb_status tb_admin_open(tb_admin **out, const char *path, unsigned flags)
{
    if (!out)
        return tb__set_error(TB_INVALID, "tb_admin_open: out is NULL");
    *out = NULL;
    if (!path || !*path)
        return tb__set_error(TB_INVALID, "tb_admin_open: path is empty");
    tb_admin *a = tb__calloc(1, sizeof *a);
    if (!a || !(a->path = tb__strdup(path))) {
        tb__free_mem(a);
        return tb__set_error(TB_NOMEM, "out of memory opening %s", path);
    }
    a->readonly = (flags & TB_ADMIN_READONLY) != 0;
    tb_status st = tb__db_open(&a->db, path, 10000, 1, a->readonly);
    if (st != TB_OK) {
        tb_admin_close(a);
        return st;
    }
    *out = a;
    return TB_OK;
}

void tb_admin_close(tb_admin *a)
{
    if (!a)
        return;
    sqlite3_close(a->db);
    tb__free_mem(a->path);
    tb__free_mem(a);
}

const char *tb_admin_path(const tb_admin *a)
{
    return a ? a->path : NULL;
}

static tb_status check(const tb_admin *a, const char *fn, bool writes)
{
    if (!a)
        return tb__set_error(TB_INVALID, "%s: admin handle is NULL", fn);
    if (writes && a->readonly)
        return tb__set_error(TB_READONLY, "%s: %s was opened read-only", fn, a->path);
    return TB_OK;
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

tb_status tb_admin_figures_get(tb_admin *a, tb_admin_figures *out)
{
    tb_status st = check(a, "tb_admin_figures_get", false);
    if (st != TB_OK)
        return st;
    if (!out)
        return tb__set_error(TB_INVALID, "tb_admin_figures_get: out is NULL");
    memset(out, 0, sizeof *out);
    out->file_bytes = file_size(a->path);
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", a->path);
    int64_t w = file_size(wal);
    out->wal_bytes = w < 0 ? 0 : w;
    struct statvfs vfs;
    out->free_bytes =
        statvfs(a->path, &vfs) == 0 ? (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize : -1;
    return tb__store_figures(a->db, out);
}

static tb_status no_fn(const char *name)
{
    return tb__set_error(TB_INVALID, "%s: callback is NULL", name);
}

tb_status tb_admin_status(tb_admin *a, tb_dest_status_fn fn, void *ctx)
{
    tb_status st = check(a, "tb_admin_status", false);
    if (st == TB_OK && !fn)
        st = no_fn("tb_admin_status");
    if (st == TB_OK)
        st = tb__store_status(a->db, fn, ctx);
    return st;
}

tb_status tb_admin_pending(tb_admin *a, const char *destination, int64_t limit, tb_pending_fn fn,
                           void *ctx)
{
    tb_status st = check(a, "tb_admin_pending", false);
    if (st == TB_OK && !fn)
        st = no_fn("tb_admin_pending");
    if (st == TB_OK)
        st = tb__store_pending(a->db, destination, limit, fn, ctx);
    return st;
}

tb_status tb_admin_dead(tb_admin *a, const char *destination, tb_dead_fn fn, void *ctx)
{
    tb_status st = check(a, "tb_admin_dead", false);
    if (st == TB_OK && !fn)
        st = no_fn("tb_admin_dead");
    if (st == TB_OK)
        st = tb__store_dead(a->db, destination, fn, ctx);
    return st;
}

tb_status tb_admin_records(tb_admin *a, const char *trace_id, tb_record_fn fn, void *ctx)
{
    tb_status st = check(a, "tb_admin_records", false);
    if (st == TB_OK && !fn)
        st = no_fn("tb_admin_records");
    if (st == TB_OK)
        st = tb__store_records(a->db, trace_id, fn, ctx);
    return st;
}

tb_status tb_admin_trace_delivery(tb_admin *a, const char *trace_id, tb_trace_delivery_fn fn,
                                  void *ctx)
{
    tb_status st = check(a, "tb_admin_trace_delivery", false);
    if (st == TB_OK && !trace_id)
        st = tb__set_error(TB_INVALID, "tb_admin_trace_delivery: trace_id is NULL");
    if (st == TB_OK && !fn)
        st = no_fn("tb_admin_trace_delivery");
    if (st == TB_OK)
        st = tb__store_trace_delivery(a->db, trace_id, fn, ctx);
    return st;
}

tb_status tb_admin_traces(tb_admin *a, int64_t limit, tb_trace_row_fn fn, void *ctx)
{
    tb_status st = check(a, "tb_admin_traces", false);
    if (st == TB_OK && !fn)
        st = no_fn("tb_admin_traces");
    if (st == TB_OK)
        st = tb__store_traces(a->db, limit, fn, ctx);
    return st;
}

static tb_status known(tb_admin *a, const char *destination)
{
    if (!destination)
        return TB_OK;
    bool found = false;
    tb_status st = tb__store_has_destination(a->db, destination, &found);
    if (st == TB_OK && !found)
        st = tb__set_error(TB_NOT_FOUND, "no destination '%s' in %s", destination, a->path);
    return st;
}

tb_status tb_admin_requeue(tb_admin *a, const char *destination, int all, int64_t *requeued,
                           int64_t *gone)
{
    int64_t r = 0, g = 0;
    tb_status st = check(a, "tb_admin_requeue", true);
    if (st == TB_OK)
        st = known(a, destination);
    if (st == TB_OK)
        st = tb__store_requeue(a->db, destination, all != 0, &r, &g);
    if (requeued)
        *requeued = r;
    if (gone)
        *gone = g;
    return st;
}

tb_status tb_admin_purge(tb_admin *a, const char *const *configured, int64_t older_than_ms,
                         int64_t *deleted)
{
    int64_t d = 0;
    tb_status st = check(a, "tb_admin_purge", true);
    /* a configured destination the file does not know yet will backfill
     * from the oldest record: it needs them all */
    bool keep_all = false;
    for (size_t i = 0; st == TB_OK && configured && configured[i]; i++) {
        bool found = false;
        st = tb__store_has_destination(a->db, configured[i], &found);
        keep_all = keep_all || !found;
    }
    if (st == TB_OK)
        st = tb__store_purge(a->db, older_than_ms < 0 ? 0 : older_than_ms, keep_all, &d);
    if (st == TB_OK) {
        /* give the space back (auto_vacuum=INCREMENTAL), then shrink the WAL */
        sqlite3_exec(a->db, "PRAGMA incremental_vacuum", NULL, NULL, NULL);
        sqlite3_wal_checkpoint_v2(a->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    }
    if (deleted)
        *deleted = d;
    return st;
}

tb_status tb_admin_forget(tb_admin *a, const char *destination, int64_t *dead_dropped)
{
    int64_t n = 0;
    tb_status st = check(a, "tb_admin_forget", true);
    if (st == TB_OK && !destination)
        st = tb__set_error(TB_INVALID, "tb_admin_forget: destination is NULL");
    if (st == TB_OK)
        st = known(a, destination);
    if (st == TB_OK)
        st = tb__store_forget(a->db, destination, &n);
    if (dead_dropped)
        *dead_dropped = n;
    return st;
}
