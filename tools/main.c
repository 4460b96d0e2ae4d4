/*
 * main.c — the `tracebox` command: global flags, the verb table with each
 * verb's help, and the helpers every verb shares. One file per verb
 * (cmd_*.c) does the work.
 */
#include "cli.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct verb {
    const char *name;
    cli_verb_fn fn;
    const char *usage;
    const char *help;
} verb;

static const verb verbs[] = {
    {"init", cmd_init, "tracebox init [--db PATH]",
     "Create the outbox file (mode 0600) or migrate it to this version's schema.\n"
     "Example: tracebox --db /var/lib/app/traces.db init"},
    {"ingest", cmd_ingest, "tracebox ingest [--ack] [FILE|-]",
     "Read JSON lines of Agents SDK export objects (span.export() / toJSON()) and commit\n"
     "them. A bad line is reported with its line number and skipped; the rest is stored;\n"
     "the exit status is 1 if any line was bad. --ack prints each record's id on stdout\n"
     "only after it is durable.\n"
     "Example: python agent.py | tracebox ingest --ack -"},
    {"ship", cmd_ship,
     "tracebox ship [--once] [--destination NAME] [--max-time SECONDS] [--config FILE]",
     "Deliver pending records to every configured destination. --once drains until every\n"
     "destination is caught up or backing off, then exits 0 (nothing pending), 75\n"
     "(something still pending), 78 (bad config). Without --once it runs until\n"
     "SIGTERM/SIGINT.\n"
     "Example (cron): */5 * * * * tracebox --db /var/lib/app/traces.db ship --once"},
    {"check", cmd_check, "tracebox check [--connect] [--config FILE]",
     "Validate the configuration without shipping: every error (FILE:LINE: [section] key:\n"
     "what is wrong), then each destination with its keys as they may be shown (secrets as\n"
     "their length, URLs with credentials masked, headers as names) and the environment\n"
     "variables behind them. --connect sends each destination one empty batch. Exits 0 OK,\n"
     "78 configuration error (an unset ${VAR} included), 77 credentials refused, 69 a\n"
     "destination unreachable.\n"
     "Example: tracebox --config /etc/tracebox.ini check --connect"},
    {"serve", cmd_serve,
     "tracebox serve [--listen HOST:PORT] [--max-body SIZE] [--insecure-listen] [--config FILE]",
     "A durable local receiver: POST /v1/traces (OTLP/HTTP, protobuf or JSON, gzip) and\n"
     "POST /v1/traces/ingest (the Agents SDK exporter's {\"data\":[...]}) answer only after\n"
     "every span is committed to the outbox (503 + Retry-After when it cannot be stored,\n"
     "400 for a malformed body, nothing of it stored); GET /metrics, /healthz, and a\n"
     "read-only page at /. Ships to the configured destinations in the same process.\n"
     "Listens on 127.0.0.1:4318 by default; another address needs [serve] token = ${VAR}\n"
     "(Bearer) or --insecure-listen. Stops cleanly on SIGTERM/SIGINT.\n"
     "Example: OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 python agent.py"},
    {"status", cmd_status,
     "tracebox status [--json|--prometheus|--check [--max-pending N] [--max-age DURATION] "
     "[--max-wal SIZE] [--no-dead]]",
     "Per destination: pending, oldest pending age, delivered, dead, tries, last error, next\n"
     "attempt, lease holder; counters of refused and dropped records; file, WAL and free\n"
     "space. --json is a stable shape (see the README); --prometheus is the text exposition\n"
     "format for the node_exporter textfile collector; --check prints one line and exits 0\n"
     "OK, 2 CRITICAL (bad credentials or a limit exceeded) or 3 UNKNOWN (no outbox).\n"
     "Example: tracebox status --check --max-pending 10000 --max-age 1h --no-dead"},
    {"pending", cmd_pending, "tracebox pending [--destination NAME] [--limit N] [--json]",
     "List records not yet delivered (oldest first), per destination.\n"
     "Example: tracebox pending --destination langfuse --limit 20"},
    {"show", cmd_show, "tracebox show TRACE_ID [--json]",
     "A trace with its spans as a tree.\n"
     "Example: tracebox show trace_0f8c3c1e9b6a4d2f8e7a1b2c3d4e5f60"},
    {"dead", cmd_dead, "tracebox dead [--destination NAME] [--json]",
     "Dead letters: records a destination refused for good, with the reason.\n"
     "Example: tracebox dead --destination collector"},
    {"requeue", cmd_requeue, "tracebox requeue [--destination NAME] (--dead|--all)",
     "Put dead letters (--dead) or every retained record (--all) back in line.\n"
     "Example: tracebox requeue --destination langfuse --dead"},
    {"purge", cmd_purge, "tracebox purge [--older-than DURATION]",
     "Delete records every destination has delivered (older than DURATION, default 0s)\n"
     "and reclaim the space. Never deletes what is pending.\n"
     "Example: tracebox purge --older-than 7d"},
    {"forget", cmd_forget, "tracebox forget NAME [--force]",
     "Drop a destination's delivery state (its cursor, dead letters and requeued records)\n"
     "from the outbox, so a destination that is gone no longer holds records back from\n"
     "purge. Refuses a destination that is still in the configuration unless --force.\n"
     "Example: tracebox forget old-collector"},
    {"export", cmd_export, "tracebox export [--trace ID]",
     "Print stored records as JSON lines (the SDK export objects), in seq order.\n"
     "Example: tracebox export --trace trace_0f8c... > one-trace.jsonl"},
    {"demo", cmd_demo, "tracebox demo [--conversations N] [--outage]",
     "Run a simulated multi-agent workload through the C API into the outbox, ship it to\n"
     "the default `file` destination, and show what happened. --outage also starts a local\n"
     "collector, takes it down while the agent keeps working, and shows the backlog\n"
     "draining when it comes back.\n"
     "Example: tracebox demo --outage"},
};

#define N_VERBS (sizeof verbs / sizeof verbs[0])

static void usage_all(FILE *f)
{
    fprintf(f, "tracebox %s — guaranteed delivery for LLM-agent traces\n\n", tb_version());
    fprintf(f, "usage: tracebox [--db PATH] [--config FILE] VERB [ARGS]\n\nverbs:\n");
    for (size_t i = 0; i < N_VERBS; i++)
        fprintf(f, "  %s\n", verbs[i].usage);
    fprintf(f, "\n  tracebox help VERB    more about one verb\n"
               "  tracebox --version\n\n"
               "outbox path: --db, else $TRACEBOX_DB, else [outbox] path in the config, else "
               "./tracebox.db\n"
               "config: --config, else $TRACEBOX_CONFIG, else ./tracebox.ini, else the "
               "environment\n\n"
               "exit codes: 0 ok; 1 error; 2 usage; 75 ship --once left records pending;\n"
               "            78 bad configuration\n");
}

static const verb *find_verb(const char *name)
{
    for (size_t i = 0; i < N_VERBS; i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

int cli_fail(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("tracebox: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

bool cli_flag(cli *c, int *i, const char *name, const char **value)
{
    const char *arg = c->argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return false;
    if (!value)
        return arg[n] == '\0';
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return true;
    }
    if (arg[n] != '\0')
        return false;
    if (*i + 1 >= c->argc) {
        *value = NULL;
        return true;
    }
    *value = c->argv[++*i];
    return true;
}

bool cli_int(const char *s, long long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static tb_config *loaded_config;

tb_config *cli_config(cli *c)
{
    if (loaded_config)
        return loaded_config;
    if (tb_config_load(&loaded_config, c->config) != TB_OK) {
        cli_fail(EXIT_CONFIG, "%s", tb_last_error());
        return NULL;
    }
    return loaded_config;
}

bool cli_config_in_play(const cli *c)
{
    return c->config || getenv("TRACEBOX_CONFIG") || access("tracebox.ini", F_OK) == 0;
}

const char *cli_db_path(cli *c)
{
    if (c->db)
        return c->db;
    const char *env = getenv("TRACEBOX_DB");
    if (env && *env)
        return env;
    /* only consult the config file when one is there; one that does not
     * load never sends a verb to another file (the error is printed) */
    if (cli_config_in_play(c)) {
        tb_config *cfg = cli_config(c);
        if (!cfg)
            return NULL;
        if (tb_config_outbox_path(cfg))
            return tb_config_outbox_path(cfg);
    }
    return "tracebox.db";
}

tb_outbox *cli_open(cli *c)
{
    tb_outbox *ob = NULL;
    tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT;
    /* [outbox] settings apply to every verb that writes records */
    if (cli_config_in_play(c)) {
        const tb_config *cfg = cli_config(c);
        if (!cfg || tb_config_outbox_options(cfg, &o) != TB_OK)
            return NULL;
    }
    const char *path = cli_db_path(c);
    if (!path)
        return NULL;
    if (tb_outbox_open(&ob, path, &o) != TB_OK) {
        cli_fail(EXIT_ERR, "%s", tb_last_error());
        return NULL;
    }
    return ob;
}

tb_admin *cli_admin(cli *c, bool write)
{
    tb_admin *a = NULL;
    const char *path = cli_db_path(c);
    if (!path)
        return NULL;
    if (tb_admin_open(&a, path, write ? 0 : TB_ADMIN_READONLY) != TB_OK) {
        cli_fail(EXIT_ERR, "%s", tb_last_error());
        return NULL;
    }
    return a;
}

void cli_json_str(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

int64_t cli_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool cli_duration(const char *s, int64_t *ms)
{
    long long secs;
    if (cli_int(s, &secs)) {
        if (secs < 0 || secs > INT64_MAX / 1000)
            return false;
        *ms = secs * 1000;
        return true;
    }
    return tb_parse_duration(s, ms) == 0;
}

void cli_nap_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

bool cli_color(void)
{
    const char *nc = getenv("NO_COLOR");
    return isatty(STDOUT_FILENO) && !(nc && *nc);
}

const char *cli_age(long long s, char buf[32])
{
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(buf, 32, "%llds", s);
    else if (s < 3600)
        snprintf(buf, 32, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, 32, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
    else
        snprintf(buf, 32, "%lldd%02lldh", s / 86400, (s % 86400) / 3600);
    return buf;
}

int main(int argc, char **argv)
{
    if (geteuid() != getuid() || getegid() != getgid()) {
        fprintf(stderr, "tracebox: refusing to run setuid/setgid\n");
        return EXIT_ERR;
    }
    cli c = {0};
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("tracebox %s (sqlite %s)\n", tb_version(), sqlite3_libversion());
            return EXIT_OK;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage_all(stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--db") == 0 && i + 1 < argc) {
            c.db = argv[++i];
        } else if (strncmp(a, "--db=", 5) == 0) {
            c.db = a + 5;
        } else if (strcmp(a, "--config") == 0 && i + 1 < argc) {
            c.config = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            c.config = a + 9;
        } else if (a[0] == '-') {
            fprintf(stderr, "tracebox: unknown option %s (see `tracebox help`)\n", a);
            return EXIT_USAGE;
        } else {
            break;
        }
    }
    if (i >= argc) {
        usage_all(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[i];
    if (strcmp(name, "help") == 0) {
        if (i + 1 < argc) {
            const verb *v = find_verb(argv[i + 1]);
            if (!v)
                return cli_fail(EXIT_USAGE, "no verb '%s' (see `tracebox help`)", argv[i + 1]);
            printf("usage: %s\n\n%s\n", v->usage, v->help);
            return EXIT_OK;
        }
        usage_all(stdout);
        return EXIT_OK;
    }
    const verb *v = find_verb(name);
    if (!v)
        return cli_fail(EXIT_USAGE, "no verb '%s' (see `tracebox help`)", name);
    c.argc = argc - i - 1;
    c.argv = argv + i + 1;
    /* verb-level --help, and global flags given after the verb */
    int kept = 0;
    for (int k = 0; k < c.argc; k++) {
        if (strcmp(c.argv[k], "--help") == 0 || strcmp(c.argv[k], "-h") == 0) {
            printf("usage: %s\n\n%s\n", v->usage, v->help);
            return EXIT_OK;
        }
        if (strcmp(c.argv[k], "--db") == 0 && k + 1 < c.argc) {
            c.db = c.argv[++k];
        } else if (strcmp(c.argv[k], "--config") == 0 && k + 1 < c.argc) {
            c.config = c.argv[++k];
        } else if (strcmp(c.argv[k], "--json") == 0) {
            c.json = true;
        } else {
            c.argv[kept++] = c.argv[k];
        }
    }
    c.argc = kept;
    /* a configuration in play that does not load stops every verb (and
     * never sends one to another outbox path), except `check`, whose job is
     * to list its errors, and `status --check`, which says UNKNOWN */
    bool status_check = false;
    for (int k = 0; k < c.argc; k++)
        status_check = status_check || strcmp(c.argv[k], "--check") == 0;
    if (strcmp(v->name, "check") != 0 && !(strcmp(v->name, "status") == 0 && status_check) &&
        cli_config_in_play(&c) && !cli_config(&c))
        return EXIT_CONFIG;
    int rc = v->fn(&c);
    tb_config_free(loaded_config);
    return rc;
}
