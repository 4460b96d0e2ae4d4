/*
 * cmd_ingest.c — `tracebox ingest [--ack] [FILE|-]`.
 *
 * Reads JSON lines with read(2) into its own buffer and stores every
 * complete line one read(2) brought in one group commit; it never waits for
 * more input before committing what it has, so a producer that waits for
 * each --ack is never stalled. An id is printed (with --ack) only after the
 * batch holding it committed. A bad line is reported with its number and
 * skipped; the exit status is 1 at the end if any line was bad.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LINE (64u << 20) /* 64 MiB: a record larger than this is refused */
#define MAX_BATCH 1024

typedef struct batch {
    const char *line[MAX_BATCH];
    size_t len[MAX_BATCH];
    long long lineno[MAX_BATCH];
    tb_put_result res[MAX_BATCH];
    size_t n;
} batch;

static int flush_batch(tb_outbox *ob, batch *b, bool ack, const char *src, long long *bad,
                       long long *stored)
{
    if (b->n == 0)
        return 0;
    if (tb_outbox_put_json_many(ob, b->line, b->len, b->n, b->res) != TB_OK)
        return cli_fail(EXIT_ERR, "ingest: %s", tb_last_error());
    /* a file another connection holds locked (an operator's sqlite3 shell)
     * is no fault of the lines: wait, and store them once it is free */
    bool said = false;
    for (int64_t wait_ms = 50;;) {
        size_t busy = 0;
        for (size_t i = 0; i < b->n; i++)
            busy += b->res[i].status == TB_BUSY;
        if (busy == 0)
            break;
        if (!said) {
            fprintf(stderr,
                    "tracebox: ingest: %s is locked by another connection; waiting to store "
                    "%zu line(s)\n",
                    tb_outbox_path(ob), busy);
            said = true;
        }
        cli_nap_ms(wait_ms);
        wait_ms = wait_ms * 2 > 1000 ? 1000 : wait_ms * 2;
        for (size_t i = 0; i < b->n; i++) {
            if (b->res[i].status != TB_BUSY)
                continue;
            if (tb_outbox_put_json_many(ob, &b->line[i], &b->len[i], 1, &b->res[i]) != TB_OK)
                return cli_fail(EXIT_ERR, "ingest: %s", tb_last_error());
        }
    }
    if (said)
        fprintf(stderr, "tracebox: ingest: %s is free again; going on\n", tb_outbox_path(ob));
    for (size_t i = 0; i < b->n; i++) {
        if (b->res[i].status == TB_OK) {
            (*stored)++;
            if (ack)
                printf("%s\n", b->res[i].id);
        } else if (b->res[i].status == TB_BAD_RECORD || b->res[i].status == TB_INVALID) {
            (*bad)++;
            fprintf(stderr, "tracebox: ingest: %s:%lld: %s\n", src, b->lineno[i], b->res[i].error);
        } else {
            /* not the line's fault (the outbox is full, the disk failed):
             * stop here, so the producer can send it again */
            return cli_fail(EXIT_ERR, "ingest: %s:%lld: not stored: %s", src, b->lineno[i],
                            b->res[i].error);
        }
    }
    if (ack)
        fflush(stdout);
    b->n = 0;
    /* progress on a terminal once the work takes more than a second */
    static int64_t last;
    int64_t now = cli_mono_ms();
    if (!last)
        last = now;
    if (now - last >= 1000 && isatty(STDERR_FILENO)) {
        last = now;
        fprintf(stderr, "tracebox: ingest: %lld stored, %lld bad so far\n", *stored, *bad);
    }
    return 0;
}

int cmd_ingest(cli *c)
{
    bool ack = false;
    const char *path = NULL;
    for (int i = 0; i < c->argc; i++) {
        if (cli_flag(c, &i, "--ack", NULL))
            ack = true;
        else if (c->argv[i][0] == '-' && c->argv[i][1] != '\0')
            return cli_fail(EXIT_USAGE,
                            "ingest: unknown option %s (usage: tracebox ingest "
                            "[--ack] [FILE|-])",
                            c->argv[i]);
        else if (path)
            return cli_fail(EXIT_USAGE, "ingest: one input at a time");
        else
            path = c->argv[i];
    }
    int fd = STDIN_FILENO;
    const char *src = "stdin";
    if (path && strcmp(path, "-") != 0) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return cli_fail(EXIT_ERR, "ingest: cannot open %s: %s", path, strerror(errno));
        src = path;
    }
    tb_outbox *ob = cli_open(c);
    if (!ob) {
        if (fd != STDIN_FILENO)
            close(fd);
        return EXIT_ERR;
    }
    batch *b = calloc(1, sizeof *b);
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    int rc = EXIT_OK;
    long long lineno = 0, bad = 0, stored = 0;
    bool eof = false, skipping = false;
    if (!b || !buf) {
        rc = cli_fail(EXIT_ERR, "ingest: out of memory");
        goto done;
    }
    while (!eof) {
        if (len == cap) {
            if (cap >= MAX_LINE) {
                /* no newline in sight: the line is too large; drop it to its end */
                if (!skipping) {
                    fprintf(stderr,
                            "tracebox: ingest: %s:%lld: record larger than %u MiB; skipped\n", src,
                            lineno + 1, MAX_LINE >> 20);
                    bad++;
                }
                skipping = true;
                len = 0;
            } else {
                /* lines in the batch point into buf: commit them before moving it */
                if ((rc = flush_batch(ob, b, ack, src, &bad, &stored)) != 0)
                    goto done;
                char *nb = realloc(buf, cap * 2);
                if (!nb) {
                    rc = cli_fail(EXIT_ERR, "ingest: out of memory");
                    goto done;
                }
                buf = nb;
                cap *= 2;
            }
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = cli_fail(EXIT_ERR, "ingest: reading %s: %s", src, strerror(errno));
            goto done;
        }
        if (n == 0) {
            eof = true;
            if (len > 0 && buf[len - 1] != '\n') {
                if (len == cap) {
                    if ((rc = flush_batch(ob, b, ack, src, &bad, &stored)) != 0)
                        goto done;
                    char *nb = realloc(buf, cap + 1);
                    if (!nb) {
                        rc = cli_fail(EXIT_ERR, "ingest: out of memory");
                        goto done;
                    }
                    buf = nb;
                    cap++;
                }
                buf[len++] = '\n'; /* a last line without its newline */
            }
        }
        len += (size_t)(n > 0 ? n : 0);
        /* split complete lines */
        size_t start = 0;
        for (;;) {
            char *nl = memchr(buf + start, '\n', len - start);
            if (!nl)
                break;
            size_t l = (size_t)(nl - (buf + start));
            lineno++;
            if (skipping) {
                skipping = false;
            } else {
                size_t k = 0;
                while (k < l &&
                       (buf[start + k] == ' ' || buf[start + k] == '\t' || buf[start + k] == '\r'))
                    k++;
                if (k < l) {
                    b->line[b->n] = buf + start;
                    b->len[b->n] = l;
                    b->lineno[b->n] = lineno;
                    b->n++;
                    if (b->n == MAX_BATCH) {
                        if ((rc = flush_batch(ob, b, ack, src, &bad, &stored)) != 0)
                            goto done;
                    }
                }
            }
            start += l + 1;
        }
        /* commit every complete line this read brought, then keep the tail */
        if ((rc = flush_batch(ob, b, ack, src, &bad, &stored)) != 0)
            goto done;
        memmove(buf, buf + start, len - start);
        len -= start;
    }
    if (!ack && isatty(STDERR_FILENO))
        fprintf(stderr, "tracebox: ingest: %lld stored, %lld bad\n", stored, bad);
    if (bad > 0)
        rc = cli_fail(EXIT_ERR,
                      "ingest: %lld of %lld lines were bad (see above); the other "
                      "%lld are stored",
                      bad, bad + stored, stored);
done:
    free(buf);
    free(b);
    tb_outbox_close(ob);
    if (fd != STDIN_FILENO)
        close(fd);
    return rc;
}
