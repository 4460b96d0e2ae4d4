/*
 * exporters/file.c — `type = file`: JSON lines appended to a local file.
 *
 * The embedded default for demos and air-gapped hosts. Each record's body
 * is written verbatim followed by '\n'. The file is opened per batch with
 * O_APPEND|O_CREAT and mode 0600 (so an external rotation or deletion is
 * picked up on the next batch), written, and fsync()ed BEFORE send()
 * returns TB_EXPORT_DELIVERED: the shipper advances the cursor only after
 * that, so a power cut never loses an acknowledged record.
 *
 * Rotation by size: before a line that would take the file past
 * `max_bytes`, the current file is synced and closed, then path.N-1 →
 * path.N, …, path → path.1 (the oldest, path.<max_files>, is removed) and a
 * fresh file is started. Rename keeps the 0600 mode. A line larger than
 * max_bytes on its own goes into an empty file rather than being refused.
 * The directory is fsynced after creating or rotating, so the names are
 * durable too.
 *
 * A failed write or fsync (ENOSPC, EIO, …) truncates the current file back
 * to where this batch began — no torn line is left behind — and answers
 * TB_EXPORT_RETRY with the path and the errno text. Lines already moved to a
 * rotated file stay; the resend may duplicate them (at-least-once).
 */
#include "internal.h"
#include "config_keylist.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MAX_BYTES ((int64_t)100 << 20) /* 100 MiB */
#define DEFAULT_MAX_FILES 5
#define MAX_MAX_FILES 1000

typedef struct file_exporter {
    char *path;
    char *dir; /* the directory holding path, for fsync */
    int64_t max_bytes;
    int max_files;
    bool dir_synced; /* the file's name is durable */
} file_exporter;

static void errno_text(int e, char *buf, size_t size)
{
    if (strerror_r(e, buf, size) != 0)
        snprintf(buf, size, "errno %d", e);
}

static tb_status file_create(void **self, const tb_dest_config *cfg, char *err, size_t err_size)
{
    *self = NULL;
    const char *name = tb_dest_config_name(cfg);
    const char *path = tb_dest_config_get(cfg, "path");
    if (!path || !path[0]) {
        snprintf(err, err_size, "%s: [%s] path: missing (the file to append JSON lines to)",
                 tb_dest_config_where(cfg, NULL), name);
        return TB_CONFIG;
    }
    int64_t max_bytes = DEFAULT_MAX_BYTES;
    const char *v = tb_dest_config_get(cfg, "max_bytes");
    if (v && (!tb__parse_size(v, &max_bytes) || max_bytes <= 0)) {
        snprintf(err, err_size, "%s: [%s] max_bytes: expected a size such as 100MiB",
                 tb_dest_config_where(cfg, "max_bytes"), name);
        return TB_CONFIG;
    }
    long max_files = DEFAULT_MAX_FILES;
    if ((v = tb_dest_config_get(cfg, "max_files")) != NULL) {
        char *end = NULL;
        errno = 0;
        max_files = strtol(v, &end, 10);
        if (errno || end == v || *end || max_files < 1 || max_files > MAX_MAX_FILES) {
            snprintf(err, err_size, "%s: [%s] max_files: expected a number from 1 to %d",
                     tb_dest_config_where(cfg, "max_files"), name, MAX_MAX_FILES);
            return TB_CONFIG;
        }
    }
    file_exporter *f = tb__calloc(1, sizeof *f);
    if (f) {
        f->path = tb__strdup(path);
        const char *slash = strrchr(path, '/');
        if (!slash)
            f->dir = tb__strdup(".");
        else if (slash == path)
            f->dir = tb__strdup("/");
        else
            f->dir = tb__strndup(path, (size_t)(slash - path));
    }
    if (!f || !f->path || !f->dir) {
        if (f) {
            tb__free_mem(f->path);
            tb__free_mem(f->dir);
        }
        tb__free_mem(f);
        snprintf(err, err_size, "[%s]: out of memory", name);
        return TB_NOMEM;
    }
    f->max_bytes = max_bytes;
    f->max_files = (int)max_files;
    *self = f;
    return TB_OK;
}

static void fail_result(tb_export_result *r, const char *what, const char *path, int e)
{
    char eb[128];
    errno_text(e, eb, sizeof eb);
    r->outcome = TB_EXPORT_RETRY;
    r->http_status = 0;
    r->retry_after_ms = -1;
    snprintf(r->message, sizeof r->message, "%.16s %.360s: %.120s", what, path, eb);
}

static int open_file(const file_exporter *f)
{
    int fd;
    do {
        fd = open(f->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

static void sync_dir(file_exporter *f)
{
    int dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) == 0)
            f->dir_synced = true;
        close(dfd);
    }
}

/* path.(max_files) is dropped, path.i → path.(i+1), path → path.1. */
static int rotate(const file_exporter *f, const char **what)
{
    size_t n = strlen(f->path) + 16;
    char *from = tb__malloc(n), *to = tb__malloc(n);
    int rc = 0;
    if (!from || !to) {
        rc = ENOMEM;
        *what = "rotate";
        goto done;
    }
    snprintf(to, n, "%s.%d", f->path, f->max_files);
    if (unlink(to) != 0 && errno != ENOENT) {
        rc = errno;
        *what = "remove";
        goto done;
    }
    for (int i = f->max_files - 1; i >= 1; i--) {
        snprintf(from, n, "%s.%d", f->path, i);
        snprintf(to, n, "%s.%d", f->path, i + 1);
        if (rename(from, to) != 0 && errno != ENOENT) {
            rc = errno;
            *what = "rotate";
            goto done;
        }
    }
    snprintf(to, n, "%s.1", f->path);
    if (rename(f->path, to) != 0 && errno != ENOENT) {
        rc = errno;
        *what = "rotate";
    }
done:
    tb__free_mem(from);
    tb__free_mem(to);
    return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n > (size_t)SSIZE_MAX ? (size_t)SSIZE_MAX : n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (w == 0)
            return EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int sync_fd(int fd)
{
    if (fsync(fd) == 0)
        return 0;
    /* a character device such as /dev/null cannot be synced: nothing to do */
    return (errno == EINVAL || errno == EROFS) ? 0 : errno;
}

static tb_status file_send(void *self, const tb_record *records, size_t n, tb_export_result *result)
{
    file_exporter *f = self;
    const char *what = "open";
    int e = 0;
    int fd = open_file(f);
    if (fd < 0) {
        fail_result(result, "open", f->path, errno);
        return TB_OK;
    }
    struct stat st;
    bool regular = false;
    if (fstat(fd, &st) != 0) {
        e = errno;
        what = "stat";
        goto fail;
    }
    regular = S_ISREG(st.st_mode);
    int64_t size = regular ? (int64_t)st.st_size : 0;
    int64_t batch_start = size; /* where this batch began in the current file */
    if (!f->dir_synced)
        sync_dir(f);

    for (size_t i = 0; i < n; i++) {
        const char *body = records[i].body ? records[i].body : "null";
        size_t len = records[i].body ? records[i].body_len : 4;
        int64_t line = (int64_t)len + 1;
        if (regular && size > 0 && size + line > f->max_bytes) {
            if ((e = sync_fd(fd)) != 0) {
                what = "fsync";
                goto fail;
            }
            close(fd);
            fd = -1;
            if ((e = rotate(f, &what)) != 0)
                goto fail;
            if ((fd = open_file(f)) < 0) {
                e = errno;
                what = "open";
                goto fail;
            }
            sync_dir(f);
            size = batch_start = 0;
        }
        if ((e = write_all(fd, body, len)) != 0 || (e = write_all(fd, "\n", 1)) != 0) {
            what = "write";
            goto fail;
        }
        size += line;
    }
    if ((e = sync_fd(fd)) != 0) {
        what = "fsync";
        goto fail;
    }
    close(fd);
    result->outcome = TB_EXPORT_DELIVERED;
    result->http_status = 0;
    result->retry_after_ms = -1;
    result->unknown_outcome = 0;
    result->message[0] = '\0';
    return TB_OK;

fail:
    if (fd >= 0) {
        /* no torn line: cut back to where this batch started in this file */
        if (regular && ftruncate(fd, (off_t)batch_start) == 0)
            (void)fsync(fd);
        close(fd);
    }
    fail_result(result, what, f->path, e);
    return TB_OK;
}

static void file_destroy(void *self)
{
    file_exporter *f = self;
    if (!f)
        return;
    tb__free_mem(f->path);
    tb__free_mem(f->dir);
    tb__free_mem(f);
}

/* The keys of `type = file` (config_keylist.h). `path` has a default only
 * for environment-only mode, where this type is the fallback destination
 * (TB_EXPORTER_ENV_FALLBACK): the embedded default for demos and first
 * runs. In a file, `path` is required. */
#define FILE_KEYS(X)                                                                               \
    X("path", .kind = TB_KEY_STRING, .flags = TB_KEY_REQUIRED | TB_KEY_ENV_DEFAULT,                \
      .default_value = "tracebox-export.jsonl")                                                    \
    X("max_bytes", .kind = TB_KEY_SIZE, .default_value = "100MiB")                                 \
    X("max_files", .kind = TB_KEY_INT, .max = 1000000, .default_value = "5")

static const tb_config_key file_config_keys[] = {FILE_KEYS(TB__KEY_SPEC) TB__KEY_END};
static const char *const file_keys[] = {FILE_KEYS(TB__KEY_NAME) NULL};

const tb_exporter_vtable tb__exporter_file = {
    .version = TB_EXPORTER_VERSION,
    .type = "file",
    .keys = file_keys,
    .create = file_create,
    .send = file_send,
    .flush = NULL, /* send() already fsyncs before it reports delivery */
    .destroy = file_destroy,
    .config_keys = file_config_keys,
    .config_flags = TB_EXPORTER_ENV_FALLBACK,
};
