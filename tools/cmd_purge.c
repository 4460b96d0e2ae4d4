/*
 * cmd_purge.c — `tracebox purge [--older-than DURATION]`: delete what every
 * destination has delivered — never what is pending, requeued or pointed to
 * by a dead letter, and nothing while a configured destination has not
 * started yet — then give the space back (tb_admin_purge).
 */
#include "cli.h"

#include <stdlib.h>
#include <sys/stat.h>

static long long file_bytes(const char *path)
{
    struct stat st;
    char wal[4200];
    long long n = stat(path, &st) == 0 ? (long long)st.st_size : 0;
    snprintf(wal, sizeof wal, "%s-wal", path);
    if (stat(wal, &st) == 0)
        n += (long long)st.st_size;
    return n;
}

int cmd_purge(cli *c)
{
    const char *older = NULL;
    int64_t older_ms = 0;
    for (int i = 0; i < c->argc; i++) {
        if (cli_flag(c, &i, "--older-than", &older) && older &&
            tb_parse_duration(older, &older_ms) == 0)
            continue;
        return cli_fail(EXIT_USAGE,
                        "purge: bad argument '%s' (usage: tracebox purge "
                        "[--older-than DURATION], e.g. 7d, 12h, 30m)",
                        c->argv[i]);
    }
    /* the configured destinations: one the file does not know yet will
     * backfill, so it holds everything back */
    const tb_config *cfg = NULL;
    if (cli_config_in_play(c) && !(cfg = cli_config(c)))
        return EXIT_CONFIG;
    size_t n = cfg ? tb_config_destination_count(cfg) : 0;
    const char **names = calloc(n + 1, sizeof *names);
    if (!names)
        return cli_fail(EXIT_ERR, "purge: out of memory");
    for (size_t i = 0; i < n; i++)
        names[i] = tb_dest_config_name(tb_config_destination(cfg, i));
    tb_admin *a = cli_admin(c, true);
    if (!a) {
        free(names);
        return EXIT_ERR;
    }
    const char *path = tb_admin_path(a);
    long long before = file_bytes(path);
    int64_t deleted = 0;
    tb_status st = tb_admin_purge(a, names, older_ms, &deleted);
    free(names);
    if (st != TB_OK) {
        cli_fail(EXIT_ERR, "purge: %s; nothing deleted", tb_last_error());
        tb_admin_close(a);
        return EXIT_ERR;
    }
    long long after = file_bytes(path);
    printf("purged %lld delivered record(s); %s: %.1f MiB -> %.1f MiB\n", (long long)deleted, path,
           (double)before / 1048576.0, (double)after / 1048576.0);
    tb_admin_close(a);
    return EXIT_OK;
}
