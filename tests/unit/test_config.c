/*
 * test_config.c — the INI configuration (src/config*.c) and the key tables
 * the exporter types declare (src/exporters/).
 *
 * Most tests parse text with tb_config_parse() under the name "t.ini", so
 * error messages read "t.ini:LINE: ..." and each test asserts the exact
 * location and key. Loading from disk and env-only mode run in a fresh
 * temporary directory (chdir'd into, so ./tracebox.ini is under control),
 * with every variable the module reads unset first.
 */
#include "config_internal.h"

#include "fixture.h"

#include <limits.h>
#include <pthread.h>

static const char *const env_names[] = {"TRACEBOX_CONFIG",
                                        "OTEL_EXPORTER_OTLP_ENDPOINT",
                                        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                                        "OTEL_EXPORTER_OTLP_HEADERS",
                                        "OTEL_SERVICE_NAME",
                                        "LANGFUSE_PUBLIC_KEY",
                                        "LANGFUSE_SECRET_KEY",
                                        "LANGFUSE_HOST",
                                        "LANGFUSE_BASE_URL",
                                        "ARIZE_SPACE_ID",
                                        "ARIZE_API_KEY",
                                        "ARIZE_PROJECT_NAME",
                                        "PHOENIX_COLLECTOR_ENDPOINT",
                                        "PHOENIX_API_KEY",
                                        "PHOENIX_PROJECT_NAME",
                                        "WANDB_API_KEY",
                                        "WANDB_PROJECT",
                                        "WANDB_ENTITY",
                                        "TRACEBOX_OPENAI",
                                        "OPENAI_API_KEY",
                                        "OPENAI_ORG_ID",
                                        "OPENAI_PROJECT_ID",
                                        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                                        "OTEL_EXPORTER_OTLP_PROTOCOL",
                                        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                                        "OTEL_EXPORTER_OTLP_COMPRESSION",
                                        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
                                        "OTEL_EXPORTER_OTLP_TIMEOUT",
                                        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                                        "OTEL_EXPORTER_OTLP_CERTIFICATE",
                                        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                                        "PHOENIX_CLIENT_HEADERS",
                                        "OTEL_RESOURCE_ATTRIBUTES",
                                        "TBT_SET",
                                        "TBT_EMPTY",
                                        "TBT_UNSET",
                                        "TBT_SECRET",
                                        NULL};

static void clear_env(void)
{
    for (size_t i = 0; env_names[i]; i++)
        unsetenv(env_names[i]);
}

static int setup(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

/* ---- helpers ---- */

static tb_config *parse_ok(const char *text)
{
    tb_config *cfg = NULL;
    tb_status st = tb_config_parse(&cfg, text, "t.ini");
    if (st != TB_OK)
        fail_msg("unexpected error %s: %s", tb_status_str(st), tb_last_error());
    assert_non_null(cfg);
    return cfg;
}

/* Parse `text`, expect TB_CONFIG and a message starting with `prefix`. */
static void expect_error(const char *text, const char *prefix)
{
    tb_config *cfg = (tb_config *)1;
    tb_status st = tb_config_parse(&cfg, text, "t.ini");
    assert_int_equal(st, TB_CONFIG);
    assert_null(cfg);
    const char *msg = tb_last_error();
    if (strncmp(msg, prefix, strlen(prefix)) != 0)
        fail_msg("message\n  %s\ndoes not start with\n  %s", msg, prefix);
    assert_null(strchr(msg, '\n'));
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

static void assert_lacks(const char *hay, const char *needle)
{
    if (strstr(hay, needle))
        fail_msg("\"%s\" contains \"%s\"", hay, needle);
}

/* ---- valid files ---- */

static const char full_ini[] = "; a full configuration\n"
                               "[outbox]\n"
                               "path = /var/lib/tracebox.db\n"
                               "durability = async\n"
                               "max_size = 1GiB\n"
                               "retention = 7d\n"
                               "full_policy = purge_delivered\n"
                               "queue_capacity = 1024\n"
                               "queue_policy = drop\n"
                               "\n"
                               "[shipper]\n"
                               "backoff_base = 500ms\n"
                               "backoff_cap = 5m\n"
                               "auth_backoff = 1h\n"
                               "lease = 2m\n"
                               "poll_interval = 250ms\n"
                               "\n"
                               "[collector]\n"
                               "type = otlp\n"
                               "endpoint = http://127.0.0.1:4318\n"
                               "protocol = http/json\n"
                               "conventions = genai, openinference\n"
                               "service_name = agent\n"
                               "batch_size = 100\n"
                               "max_batch_bytes = 500MB\n"
                               "timeout = 10s\n"
                               "max_age = 1d\n"
                               "start = latest\n"
                               "headers = Authorization=Bearer x,X-Other=y\n"
                               "compression = gzip\n"
                               "ca_file = /etc/ca.pem\n"
                               "insecure = true\n"
                               "\n"
                               "[openai]\n"
                               "type = openai\n"
                               "base_url = https://api.openai.com\n"
                               "api_key = sk-test\n"
                               "organization = org-1\n"
                               "project = proj-1\n"
                               "\n"
                               "[langfuse]\n"
                               "  type = langfuse ; indented lines and inline comments are fine\n"
                               "  host = https://cloud.langfuse.com\n"
                               "  public_key = pk-lf\n"
                               "  secret_key = sk-lf\n"
                               "\n"
                               "[arize]\n"
                               "type = arize\n"
                               "endpoint = https://otlp.arize.com\n"
                               "space_id = space\n"
                               "api_key = ak\n"
                               "project = p\n"
                               "\n"
                               "[phoenix]\n"
                               "type = phoenix\n"
                               "endpoint = http://localhost:6006\n"
                               "api_key = phx\n"
                               "project = default\n"
                               "\n"
                               "[wandb]\n"
                               "type = wandb\n"
                               "endpoint = https://trace.wandb.ai\n"
                               "api_key = wk\n"
                               "project = team/proj\n"
                               "\n"
                               "[local]\n"
                               "type = file\n"
                               "path = out.jsonl\n"
                               "max_bytes = 10MiB\n"
                               "max_files = 5\n"
                               "\n"
                               "[hook]\n"
                               "type = webhook\n"
                               "url = https://example.com/hook\n";

static void test_full_file(void **state)
{
    (void)state;
    tb_config *cfg = parse_ok(full_ini);
    assert_string_equal(tb_config_outbox_path(cfg), "/var/lib/tracebox.db");
    assert_int_equal(cfg->durability, TB_DURABILITY_ASYNC);
    assert_int_equal(cfg->max_size, 1073741824LL);
    assert_int_equal(cfg->retention_ms, 7LL * 86400 * 1000);
    assert_int_equal(cfg->full_policy, TB_FULL_PURGE_DELIVERED);
    assert_int_equal(cfg->queue_capacity, 1024);
    assert_int_equal(cfg->queue_policy, TB_QUEUE_DROP);
    assert_int_equal(cfg->backoff_base_ms, 500);
    assert_int_equal(cfg->backoff_cap_ms, 300000);
    assert_int_equal(cfg->auth_backoff_ms, 3600000);
    assert_int_equal(cfg->lease_ms, 120000);
    assert_int_equal(cfg->poll_interval_ms, 250);

    assert_int_equal(tb_config_destination_count(cfg), 8);
    const char *names[] = {"collector", "openai", "langfuse", "arize",
                           "phoenix",   "wandb",  "local",    "hook"};
    const char *types[] = {"otlp",    "openai", "langfuse", "arize",
                           "phoenix", "wandb",  "file",     "webhook"};
    for (size_t i = 0; i < 8; i++) {
        const tb_dest_config *d = tb_config_destination(cfg, i);
        assert_non_null(d);
        assert_string_equal(tb_dest_config_name(d), names[i]);
        assert_string_equal(tb_dest_config_type(d), types[i]);
        assert_ptr_equal(tb_config_find_destination(cfg, names[i]), d);
    }
    assert_null(tb_config_destination(cfg, 8));
    assert_null(tb_config_find_destination(cfg, "outbox"));
    assert_null(tb_config_find_destination(cfg, "nope"));

    const tb_dest_config *c = tb_config_find_destination(cfg, "collector");
    assert_int_equal(c->batch_size, 100);
    assert_int_equal(c->max_batch_bytes, 500000000LL);
    assert_int_equal(c->timeout_ms, 10000);
    assert_int_equal(tb_dest_config_timeout_ms(c), 10000);
    assert_int_equal(c->max_age_ms, 86400000LL);
    assert_int_equal(c->start_latest, 1);
    assert_int_equal(c->n_kv, 14);
    assert_string_equal(tb_dest_config_get(c, "endpoint"), "http://127.0.0.1:4318");
    assert_string_equal(tb_dest_config_get(c, "headers"), "Authorization=Bearer x,X-Other=y");
    assert_string_equal(tb_dest_config_get(c, "type"), "otlp");
    assert_null(tb_dest_config_get(c, "traces_endpoint"));
    assert_string_equal(tb_dest_config_where(c, NULL), "t.ini:18");
    assert_string_equal(tb_dest_config_where(c, "protocol"), "t.ini:21");
    assert_string_equal(tb_dest_config_where(c, "missing"), "t.ini:18");

    const tb_dest_config *lf = tb_config_find_destination(cfg, "langfuse");
    assert_string_equal(tb_dest_config_get(lf, "type"), "langfuse");
    assert_string_equal(tb_dest_config_get(lf, "secret_key"), "sk-lf");
    assert_string_equal(tb_dest_config_where(lf, "host"), "t.ini:43");

    const tb_dest_config *f = tb_config_find_destination(cfg, "local");
    assert_string_equal(tb_dest_config_get(f, "max_bytes"), "10MiB");
    tb_config_free(cfg);
}

static void test_defaults(void **state)
{
    (void)state;
    tb_config *cfg = parse_ok("[hook]\ntype = webhook\nurl = http://localhost:9/x\n");
    assert_null(tb_config_outbox_path(cfg));
    assert_int_equal(cfg->durability, TB_DURABILITY_FULL);
    assert_int_equal(cfg->max_size, 0);
    assert_int_equal(cfg->retention_ms, 0);
    assert_int_equal(cfg->full_policy, TB_FULL_REFUSE);
    assert_int_equal(cfg->queue_capacity, 0);
    assert_int_equal(cfg->queue_policy, TB_QUEUE_BLOCK);
    assert_int_equal(cfg->backoff_base_ms, 1000);
    assert_int_equal(cfg->backoff_cap_ms, 300000);
    assert_int_equal(cfg->auth_backoff_ms, 900000);
    assert_int_equal(cfg->lease_ms, 60000);
    assert_int_equal(cfg->poll_interval_ms, 1000);
    assert_string_equal(cfg->file, "t.ini");
    const tb_dest_config *d = tb_config_destination(cfg, 0);
    assert_int_equal(d->batch_size, 512);
    assert_int_equal(d->max_batch_bytes, 4 * 1024 * 1024);
    assert_int_equal(d->timeout_ms, 30000);
    assert_int_equal(d->max_age_ms, 0);
    assert_int_equal(d->start_latest, 0);
    assert_string_equal(d->file, "t.ini");
    assert_int_equal(d->line, 1);
    tb_config_free(cfg);

    /* An empty file: no destinations, defaults. */
    cfg = parse_ok("");
    assert_int_equal(tb_config_destination_count(cfg), 0);
    tb_config_free(cfg);
    cfg = parse_ok("; only a comment\n\n# another\n");
    assert_int_equal(tb_config_destination_count(cfg), 0);
    tb_config_free(cfg);

    /* CRLF line ends and a BOM. */
    cfg = parse_ok("\xEF\xBB\xBF[outbox]\r\npath = x.db\r\n");
    assert_string_equal(tb_config_outbox_path(cfg), "x.db");
    tb_config_free(cfg);
}

static void test_null_arguments(void **state)
{
    (void)state;
    tb_config_free(NULL);
    assert_int_equal(tb_config_parse(NULL, "", "x"), TB_INVALID);
    tb_config *cfg = (tb_config *)1;
    assert_int_equal(tb_config_parse(&cfg, NULL, "x"), TB_INVALID);
    assert_null(cfg);
    assert_int_equal(tb_config_load(NULL, NULL), TB_INVALID);
    assert_null(tb_config_outbox_path(NULL));
    assert_int_equal(tb_config_destination_count(NULL), 0);
    assert_null(tb_config_destination(NULL, 0));
    assert_null(tb_config_find_destination(NULL, "x"));
    assert_null(tb_dest_config_name(NULL));
    assert_null(tb_dest_config_type(NULL));
    assert_null(tb_dest_config_get(NULL, "x"));
    assert_int_equal(tb_dest_config_timeout_ms(NULL), 30000);
    /* A NULL name reads as "config" in messages. */
    assert_int_equal(tb_config_parse(&cfg, "[a]\n", NULL), TB_CONFIG);
    assert_string_equal(tb_last_error(),
                        "config:1: [a] type: missing (add type = one of otlp, openai, langfuse, "
                        "arize, phoenix, wandb, file, webhook, or a registered exporter type)");
}

/* ---- errors ---- */

static void test_unknown_key(void **state)
{
    (void)state;
    expect_error("[outbox]\npath = a.db\ncolour = blue\n",
                 "t.ini:3: [outbox] colour: unknown key (use one of: path, durability");
    expect_error("[shipper]\nlease = 1m\nleese = 1m\n", "t.ini:3: [shipper] leese: unknown key");
    expect_error("[c]\ntype = otlp\nendpoint = http://x\nurl = http://y\n",
                 "t.ini:4: [c] url: unknown key for type otlp (use one of: type, batch_size");
    /* HTTP keys are not for the file type. */
    expect_error("[f]\ntype = file\npath = x\ncompression = gzip\n",
                 "t.ini:4: [f] compression: unknown key for type file");
    /* The type may come after the other keys; the key's own line is named. */
    expect_error("[c]\nbogus = 1\ntype = webhook\nurl = http://y\n",
                 "t.ini:2: [c] bogus: unknown key for type webhook");
    expect_error("stray = 1\n[outbox]\n",
                 "t.ini:1: stray: key outside a section (put it under [outbox]");
    expect_error("[outbox]\npath = a\npath = b\n",
                 "t.ini:3: [outbox] path: set twice (first at line 2; keep one)");
    expect_error("[w]\ntype = webhook\nurl = http://a\nurl = http://b\n",
                 "t.ini:4: [w] url: set twice (first at line 3; keep one)");
}

static void test_bad_values(void **state)
{
    (void)state;
    expect_error("[outbox]\nretention = soon\n",
                 "t.ini:2: [outbox] retention: `soon` is not a duration (use a number with ms, "
                 "s, m, h, d or w, e.g. 30s)");
    expect_error("[shipper]\n\nlease = -5s\n", "t.ini:3: [shipper] lease: `-5s` is not a duration");
    expect_error("[shipper]\nlease = 0\n", "t.ini:2: [shipper] lease: `0` is too small");
    expect_error("[outbox]\nmax_size = 12 parsecs\n",
                 "t.ini:2: [outbox] max_size: `12 parsecs` is not a size");
    expect_error("[outbox]\nqueue_capacity = 12k\n",
                 "t.ini:2: [outbox] queue_capacity: `12k` is not an integer");
    expect_error("[outbox]\ndurability = maybe\n",
                 "t.ini:2: [outbox] durability: `maybe` is not allowed (use full|normal|async)");
    expect_error("[outbox]\nfull_policy = purge\n",
                 "t.ini:2: [outbox] full_policy: `purge` is not allowed");
    expect_error("[outbox]\nqueue_policy = wait\n",
                 "t.ini:2: [outbox] queue_policy: `wait` is not allowed");
    expect_error("[outbox]\npath =\n", "t.ini:2: [outbox] path: empty");
    expect_error("[w]\ntype = webhook\nurl = http://x\nbatch_size = 0\n",
                 "t.ini:4: [w] batch_size: `0` is out of range (use 1 to 100000)");
    expect_error("[w]\ntype = webhook\nurl = http://x\nbatch_size = 100001\n",
                 "t.ini:4: [w] batch_size: `100001` is out of range");
    expect_error("[w]\ntype = webhook\nurl = http://x\nbatch_size = ten\n",
                 "t.ini:4: [w] batch_size: `ten` is not an integer");
    expect_error("[w]\ntype = webhook\nurl = http://x\ntimeout = 1 fortnight\n",
                 "t.ini:4: [w] timeout: `1 fortnight` is not a duration");
    expect_error("[w]\ntype = webhook\nurl = http://x\nmax_batch_bytes = lots\n",
                 "t.ini:4: [w] max_batch_bytes: `lots` is not a size");
    expect_error("[w]\ntype = webhook\nurl = http://x\nstart = middle\n",
                 "t.ini:4: [w] start: `middle` is not allowed (use oldest|latest)");
    expect_error("[w]\ntype = webhook\nurl = http://x\ncompression = zstd\n",
                 "t.ini:4: [w] compression: `zstd` is not allowed (use none|gzip)");
    expect_error("[w]\ntype = webhook\nurl = http://x\ninsecure = yes\n",
                 "t.ini:4: [w] insecure: `yes` is not a boolean (use true or false)");
    expect_error("[w]\ntype = webhook\nurl = ftp://x\n",
                 "t.ini:3: [w] url: not an http:// or https:// URL");
    expect_error("[c]\ntype = otlp\nendpoint = http://x\nprotocol = grpc\n",
                 "t.ini:4: [c] protocol: `grpc` is not allowed (use http/protobuf|http/json)");
    expect_error("[c]\ntype = otlp\nendpoint = http://x\nconventions = genai,otel\n",
                 "t.ini:4: [c] conventions: `genai,otel` is not allowed");
    expect_error("[f]\ntype = file\npath = x\nmax_files = many\n",
                 "t.ini:4: [f] max_files: `many` is not an integer");
    expect_error("[w]\ntype = webhook\nurl = http://x\nheaders = A=1,B\n",
                 "t.ini:4: [w] headers: item 2 is not name=value");
    expect_error("[shipper]\nbackoff_base = 10s\nbackoff_cap = 1s\n",
                 "t.ini:3: [shipper] backoff_cap: smaller than backoff_base");
}

static void test_type_errors(void **state)
{
    (void)state;
    expect_error("[outbox]\npath = x\n\n[collector]\nendpoint = http://x\n",
                 "t.ini:4: [collector] type: missing (add type = one of otlp, openai");
    /* An empty section is seen too. */
    expect_error("[empty]\n[w]\ntype = webhook\nurl = http://x\n",
                 "t.ini:1: [empty] type: missing");
    expect_error("[w]\ntype = webhook\nurl = http://x\n[last]\n", "t.ini:4: [last] type: missing");
    expect_error("[c]\nendpoint = http://x\ntype = kafka\n",
                 "t.ini:3: [c] type: unknown type `kafka` (use one of otlp, openai, langfuse, "
                 "arize, phoenix, wandb, file, webhook, or register it with "
                 "tb_exporter_register())");
    expect_error("[bad name]\ntype = file\n", "t.ini:1: bad section name [bad name]");
}

static void test_duplicate_section(void **state)
{
    (void)state;
    expect_error("[w]\ntype = webhook\nurl = http://x\n\n[w]\ntype = file\n",
                 "t.ini:5: [w]: section appears twice (first at line 1; merge the two or "
                 "rename one)");
    /* Back to back, with no key in between. */
    expect_error("[w]\n[w]\n", "t.ini:1: [w] type: missing");
    expect_error("[outbox]\npath = a\n[shipper]\n[outbox]\n",
                 "t.ini:4: [outbox]: section appears twice (first at line 1; merge the two)");
    expect_error("[shipper]\n[shipper]\n", "t.ini:2: [shipper]: section appears twice");
}

static void test_missing_required(void **state)
{
    (void)state;
    expect_error("[c]\ntype = otlp\nprotocol = http/json\n",
                 "t.ini:1: [c] endpoint: missing (type otlp needs endpoint or traces_endpoint; "
                 "set one of them)");
    expect_error("\n[w]\ntype = webhook\n",
                 "t.ini:2: [w] url: missing (type webhook needs url; set it)");
    expect_error("[f]\ntype = file\nmax_files = 3\n", "t.ini:1: [f] path: missing");
    expect_error("[lf]\ntype = langfuse\nsecret_key = s\n", "t.ini:1: [lf] public_key: missing");
    expect_error("[lf]\ntype = langfuse\npublic_key = p\n", "t.ini:1: [lf] secret_key: missing");
    expect_error("[oa]\ntype = openai\n", "t.ini:1: [oa] api_key: missing");
    /* An empty value (an unset variable with an empty default) is missing. */
    expect_error("[oa]\ntype = openai\napi_key = ${TBT_UNSET:-}\n",
                 "t.ini:1: [oa] api_key: missing");
    /* traces_endpoint alone satisfies otlp; phoenix and friends need nothing. */
    tb_config *cfg = parse_ok("[c]\ntype = otlp\ntraces_endpoint = http://x/v1/traces\n"
                              "[p]\ntype = phoenix\n[a]\ntype = arize\n[wb]\ntype = wandb\n");
    assert_int_equal(tb_config_destination_count(cfg), 4);
    tb_config_free(cfg);
}

static void test_malformed_line(void **state)
{
    (void)state;
    expect_error(
        "[outbox]\npath = a\nthis is not a key\n",
        "t.ini:3: malformed line (expected `key = value`, `[section]` or a `#` or `;` comment)");
    expect_error("[outbox\npath = a\n", "t.ini:1: malformed section header");
    expect_error("[outbox] path = a\n", "t.ini:1: malformed section header");
    /* A malformed line before a destination error found at section end. */
    expect_error("[w]\ntype = webhook\nurl = http://x\nnonsense\nbatch_size = 0\n",
                 "t.ini:4: malformed line");
    /* A destination error before a malformed line. */
    expect_error("[w]\ntype = webhook\nbatch_size = 0\nurl = http://x\nnonsense\n",
                 "t.ini:3: [w] batch_size: `0` is out of range");
    /* A malformed line beats a missing key, which is known only at the end. */
    expect_error("[w]\ntype = webhook\nbogus line\n", "t.ini:3: malformed line");
    expect_error("[w]\nbogus line\n", "t.ini:2: malformed line");
    /* No line-length limit: a 5000-character URL is read whole. */
    size_t cap = 6000;
    char *text = malloc(cap);
    assert_non_null(text);
    int n = snprintf(text, cap, "[w]\ntype = webhook\nurl = http://x/");
    for (int i = 0; i < 5000; i++)
        text[n++] = 'a';
    text[n] = '\0';
    tb_config *cfg = parse_ok(text);
    const tb_dest_config *d = tb_config_destination(cfg, 0);
    assert_int_equal(strlen(tb_dest_config_get(d, "url")), strlen("http://x/") + 5000);
    tb_config_free(cfg);
    /* A long comment is fine. */
    n = snprintf(text, cap, "[w]\ntype = webhook\n; ");
    for (int i = 0; i < 300; i++)
        text[n++] = 'c';
    snprintf(text + n, cap - (size_t)n, "\nurl = http://x\n");
    cfg = parse_ok(text);
    d = tb_config_destination(cfg, 0);
    assert_string_equal(tb_dest_config_get(d, "url"), "http://x");
    assert_string_equal(tb_dest_config_where(d, "url"), "t.ini:4");
    tb_config_free(cfg);
    free(text);
}

/* `#` and `;` comments, on their own line and after a value (after a
 * blank); a `#` inside a value stays. */
static void test_comments(void **state)
{
    (void)state;
    tb_config *cfg = parse_ok("# a comment\n"
                              "; another\n"
                              "[outbox]   # the outbox\n"
                              "path = /tmp/x.db   # where\n"
                              "retention = 7d ; a week\n"
                              "[w] ; a webhook\n"
                              "type = webhook\n"
                              "url = http://h/p#frag\n"
                              "headers = X-Token=abc#def\n");
    assert_string_equal(tb_config_outbox_path(cfg), "/tmp/x.db");
    const tb_dest_config *d = tb_config_destination(cfg, 0);
    assert_string_equal(tb_dest_config_get(d, "url"), "http://h/p#frag");
    assert_string_equal(tb_dest_config_get(d, "headers"), "X-Token=abc#def");
    tb_config_free(cfg);
}

static void test_expansion(void **state)
{
    (void)state;
    setenv("TBT_SET", "from-env", 1);
    setenv("TBT_EMPTY", "", 1);
    tb_config *cfg =
        parse_ok("[outbox]\n"
                 "path = /data/${TBT_SET}/x.db\n"
                 "[w]\n"
                 "type = webhook\n"
                 "url = ${TBT_UNSET:-http://default}/hook\n"
                 "headers = A=${TBT_SET},B=${TBT_EMPTY:-e},C=${TBT_EMPTY}x,D=$$5 $x\n");
    assert_string_equal(tb_config_outbox_path(cfg), "/data/from-env/x.db");
    const tb_dest_config *d = tb_config_find_destination(cfg, "w");
    assert_string_equal(tb_dest_config_get(d, "url"), "http://default/hook");
    assert_string_equal(tb_dest_config_get(d, "headers"), "A=from-env,B=e,C=x,D=$5 $x");
    tb_config_free(cfg);

    /* The set value wins over the default. */
    cfg = parse_ok("[outbox]\npath = ${TBT_SET:-other}\n");
    assert_string_equal(tb_config_outbox_path(cfg), "from-env");
    tb_config_free(cfg);

    expect_error("[outbox]\n\npath = ${TBT_UNSET}/x\n",
                 "t.ini:3: [outbox] path: ${TBT_UNSET} is not set (export TBT_UNSET, or write "
                 "${TBT_UNSET:-default})");
    /* in a destination's key an unset variable is left until the
     * destination is built: the file loads, the destination says why it
     * cannot be built */
    cfg = parse_ok("[w]\ntype = webhook\nurl = http://x\nheaders = A=${TBT_UNSET}\n");
    d = tb_config_destination(cfg, 0);
    assert_non_null(tb_dest_config_unresolved(d));
    assert_string_equal(tb_dest_config_unresolved(d),
                        "t.ini:4: [w] headers: ${TBT_UNSET} is not set (export TBT_UNSET, or "
                        "write ${TBT_UNSET:-default})");
    assert_string_equal(tb_dest_config_key_vars(d, "headers"), "TBT_UNSET");
    tb_config_free(cfg);
    expect_error("[outbox]\npath = ${TBT_SET\n", "t.ini:2: [outbox] path: unterminated ${");
    expect_error("[outbox]\npath = ${}\n", "t.ini:2: [outbox] path: bad variable reference");
    expect_error("[outbox]\npath = ${A B}\n", "t.ini:2: [outbox] path: bad variable reference");
    /* Expanded values are checked like any other. */
    setenv("TBT_SET", "forever", 1);
    expect_error("[outbox]\nretention = ${TBT_SET}\n",
                 "t.ini:2: [outbox] retention: `(value hidden)` is not a duration");
}

static void test_secrets_not_echoed(void **state)
{
    (void)state;
    const char *secret = "sk-SECRET-1234";
    setenv("TBT_SECRET", secret, 1);
    const char *bad[] = {
        /* a secret key a type does not accept */
        "[w]\ntype = webhook\nurl = http://x\napi_key = sk-SECRET-1234\n",
        /* a secret under a misspelt key */
        "[oa]\ntype = openai\napi_kye = sk-SECRET-1234\n",
        /* a secret on a malformed line */
        "[oa]\ntype = openai\napi_key sk-SECRET-1234\n",
        /* bad headers holding a secret */
        "[w]\ntype = webhook\nurl = http://x\nheaders = Authorization: Bearer sk-SECRET-1234\n",
        /* a secret from the environment in a bad URL */
        "[lf]\ntype = langfuse\nhost = ${TBT_SECRET}\npublic_key = p\nsecret_key = s\n",
        /* a secret in an unknown section's key */
        "[lf]\ntype = langfuse\npublic_key = sk-SECRET-1234\nsecret_key = s\ncolour = red\n",
        /* a secret in a line without `=` */
        "[oa]\ntype = openai\napi_key sk-SECRET-1234xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tb_config *cfg = NULL;
        assert_int_equal(tb_config_parse(&cfg, bad[i], "t.ini"), TB_CONFIG);
        assert_lacks(tb_last_error(), "SECRET");
        assert_contains(tb_last_error(), "t.ini:");
    }
    /* a secret next to an unset variable: the file loads; the message that
     * stops the destination from being built does not quote it either, nor
     * does what `check` shows of it */
    {
        tb_config *cfg = NULL;
        assert_int_equal(tb_config_parse(&cfg,
                                         "[oa]\ntype = openai\napi_key = sk-SECRET-1234${TBT_"
                                         "UNSET}\n",
                                         "t.ini"),
                         TB_OK);
        const tb_dest_config *d = tb_config_destination(cfg, 0);
        assert_lacks(tb_dest_config_unresolved(d), "SECRET");
        assert_contains(tb_dest_config_unresolved(d), "t.ini:3: [oa] api_key: ${TBT_UNSET}");
        char shown[200];
        tb_dest_config_show(d, "api_key", shown, sizeof shown);
        assert_lacks(shown, "SECRET");
        tb_config_free(cfg);
    }
    /* The messages still say where. */
    tb_config *cfg = NULL;
    tb_config_parse(&cfg, bad[0], "t.ini");
    assert_string_equal(tb_last_error(),
                        "t.ini:4: [w] api_key: unknown key for type webhook (use one of: type, "
                        "batch_size, max_batch_bytes, timeout, max_age, start, redact, headers, "
                        "compression, ca_file, client_cert, client_key, insecure, url)");
    tb_config_parse(&cfg, bad[2], "t.ini");
    assert_string_equal(tb_last_error(), "t.ini:3: malformed line (expected `key = value`, "
                                         "`[section]` or a `#` or `;` comment)");
}

/* ---- registered exporter types ---- */

static tb_status fake_create(void **self, const tb_dest_config *cfg, char *err, size_t size)
{
    (void)cfg;
    (void)err;
    (void)size;
    *self = NULL;
    return TB_OK;
}
static tb_status fake_send(void *self, const tb_record *r, size_t n, tb_export_result *res)
{
    (void)self;
    (void)r;
    (void)n;
    (void)res;
    return TB_OK;
}
static void fake_destroy(void *self)
{
    (void)self;
}
static const char *const fake_keys[] = {"topic", "brokers", NULL};
/* Declared the first way: names only (vtable.keys), no config_keys. */
static const tb_exporter_vtable fake_vt = {.version = TB_EXPORTER_VERSION,
                                           .type = "kafka_test",
                                           .keys = fake_keys,
                                           .create = fake_create,
                                           .send = fake_send,
                                           .flush = NULL,
                                           .destroy = fake_destroy};

static void test_registered_type(void **state)
{
    (void)state;
    assert_int_equal(tb_exporter_register(&fake_vt), TB_OK);
    tb_config *cfg = parse_ok("[k]\ntype = kafka_test\ntopic = traces\nbrokers = a:9092\n"
                              "batch_size = 7\n");
    const tb_dest_config *d = tb_config_destination(cfg, 0);
    assert_string_equal(tb_dest_config_type(d), "kafka_test");
    assert_string_equal(tb_dest_config_get(d, "topic"), "traces");
    assert_int_equal(d->batch_size, 7);
    tb_config_free(cfg);
    /* Only the common keys and the vtable's keys. */
    expect_error("[k]\ntype = kafka_test\nheaders = a=b\n",
                 "t.ini:3: [k] headers: unknown key for type kafka_test (use one of: type, "
                 "batch_size, max_batch_bytes, timeout, max_age, start, redact, topic, brokers)");
}

/* Declared the second way: a key table (vtable.config_keys), validated
 * exactly as the built-in types' tables are. */
static const tb_config_key table_keys[] = {
    {.name = "brokers", .kind = TB_KEY_STRING, .flags = TB_KEY_REQUIRED, .alternative = "url"},
    {.name = "url", .kind = TB_KEY_URL},
    {.name = "acks", .kind = TB_KEY_ENUM, .choices = "0|1|all", .default_value = "1"},
    {.name = "partitions", .kind = TB_KEY_INT, .min = 1, .max = 64},
    {.name = "linger", .kind = TB_KEY_DURATION},
    {.name = "pin", .kind = TB_KEY_INT, .flags = TB_KEY_SECRET},
    {.name = "codecs", .kind = TB_KEY_LIST, .choices = "lz4|zstd"},
    {.name = NULL}};
static const tb_exporter_vtable table_vt = {.version = TB_EXPORTER_VERSION,
                                            .type = "kafka_table",
                                            .create = fake_create,
                                            .send = fake_send,
                                            .destroy = fake_destroy,
                                            .config_keys = table_keys,
                                            .config_flags = TB_EXPORTER_HTTP};

static void test_registered_table(void **state)
{
    (void)state;
    assert_int_equal(tb_exporter_register(&table_vt), TB_OK);
    tb_config *cfg = parse_ok("[k]\ntype = kafka_table\nbrokers = a:9092\nacks = all\n"
                              "partitions = 8\nlinger = 5ms\ncodecs = lz4, zstd\n"
                              "headers = A=1\ncompression = gzip\n");
    const tb_dest_config *d = tb_config_destination(cfg, 0);
    assert_string_equal(tb_dest_config_get(d, "acks"), "all");
    assert_string_equal(tb_dest_config_where(d, "linger"), "t.ini:6");
    tb_config_free(cfg);
    cfg = parse_ok("[k]\ntype = kafka_table\nurl = https://k\n"); /* the alternative */
    tb_config_free(cfg);

    expect_error("[k]\ntype = kafka_table\nbrokers = b\ncolour = red\n",
                 "t.ini:4: [k] colour: unknown key for type kafka_table (use one of: type, "
                 "batch_size, max_batch_bytes, timeout, max_age, start, redact, headers, "
                 "compression, ca_file, client_cert, client_key, insecure, brokers, url, acks, "
                 "partitions, linger, pin, "
                 "codecs)");
    expect_error("[k]\ntype = kafka_table\nacks = 1\n",
                 "t.ini:1: [k] brokers: missing (type kafka_table needs brokers or url; set one "
                 "of them)");
    expect_error("[k]\ntype = kafka_table\nbrokers = b\nacks = most\n",
                 "t.ini:4: [k] acks: `most` is not allowed (use 0|1|all)");
    expect_error("[k]\ntype = kafka_table\nbrokers = b\npartitions = 65\n",
                 "t.ini:4: [k] partitions: `65` is out of range (use 1 to 64)");
    expect_error("[k]\ntype = kafka_table\nbrokers = b\nlinger = soon\n",
                 "t.ini:4: [k] linger: `soon` is not a duration");
    expect_error("[k]\ntype = kafka_table\nbrokers = b\ncodecs = lz4,gzip\n",
                 "t.ini:4: [k] codecs: `lz4,gzip` is not allowed (use one or more of lz4|zstd");
    expect_error("[k]\ntype = kafka_table\nurl = ftp://k\n",
                 "t.ini:3: [k] url: not an http:// or https:// URL");
    /* A key flagged secret is never quoted, whatever its kind. */
    expect_error("[k]\ntype = kafka_table\nbrokers = b\npin = 12x34\n",
                 "t.ini:4: [k] pin: `(value hidden)` is not an integer");
    assert_lacks(tb_last_error(), "12x34");
}

/* Every built-in type declares its keys in a table of its own; the names
 * its version-1 `keys` field carries are the same list. */
static void test_builtin_tables(void **state)
{
    (void)state;
    const tb_exporter_vtable *const vts[] = {
        &tb__exporter_otlp,    &tb__exporter_openai, &tb__exporter_langfuse, &tb__exporter_arize,
        &tb__exporter_phoenix, &tb__exporter_wandb,  &tb__exporter_file,     &tb__exporter_webhook};
    for (size_t i = 0; i < sizeof vts / sizeof vts[0]; i++) {
        const tb_exporter_vtable *vt = vts[i];
        assert_non_null(vt->config_keys);
        assert_non_null(vt->keys);
        size_t n = 0;
        for (; vt->config_keys[n].name; n++) {
            assert_non_null(vt->keys[n]);
            assert_string_equal(vt->keys[n], vt->config_keys[n].name);
        }
        assert_true(n > 0);
        assert_null(vt->keys[n]);
        assert_int_equal((vt->config_flags & TB_EXPORTER_HTTP) != 0, vt != &tb__exporter_file);
    }
    assert_string_equal(tb__exporter_webhook.config_keys[0].name, "url");
    assert_int_equal(tb__exporter_webhook.config_keys[0].kind, TB_KEY_URL);
    assert_true(tb__exporter_file.config_flags & TB_EXPORTER_ENV_FALLBACK);
}

/* tb_dest_config_where() writes nothing: each string stays valid as long as
 * the configuration, whatever is asked after it, from any thread. */
typedef struct where_job {
    const tb_config *cfg;
    int bad;
} where_job;

static void *where_thread(void *arg)
{
    where_job *j = arg;
    const tb_dest_config *c = tb_config_find_destination(j->cfg, "collector");
    const tb_dest_config *lf = tb_config_find_destination(j->cfg, "langfuse");
    for (int i = 0; i < 2000; i++) {
        const char *a = tb_dest_config_where(c, "protocol");
        const char *b = tb_dest_config_where(c, NULL);
        const char *h = tb_dest_config_where(lf, "host");
        if (strcmp(a, "t.ini:21") != 0 || strcmp(b, "t.ini:18") != 0 || strcmp(h, "t.ini:43") != 0)
            j->bad++;
    }
    return NULL;
}

static void test_where_is_pure(void **state)
{
    (void)state;
    tb_config *cfg = parse_ok(full_ini);
    const tb_dest_config *c = tb_config_find_destination(cfg, "collector");
    const char *a = tb_dest_config_where(c, "protocol");
    const char *b = tb_dest_config_where(c, "endpoint");
    const char *s = tb_dest_config_where(c, NULL);
    assert_string_equal(a, "t.ini:21");
    assert_string_equal(b, "t.ini:20");
    assert_string_equal(s, "t.ini:18");
    assert_ptr_equal(tb_dest_config_where(c, "protocol"), a);
    assert_ptr_equal(tb_dest_config_where(c, "missing"), s);
    assert_string_equal(tb_dest_config_where(NULL, "x"), "");

    pthread_t t[4];
    where_job jobs[4];
    for (size_t i = 0; i < 4; i++) {
        jobs[i].cfg = cfg;
        jobs[i].bad = 0;
        assert_int_equal(pthread_create(&t[i], NULL, where_thread, &jobs[i]), 0);
    }
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(jobs[i].bad, 0);
    }
    tb_config_free(cfg);
}

/* ---- files and env-only mode ---- */

static char tmpdir[PATH_MAX];
static char oldcwd[PATH_MAX];

/* Every error is reported, in file order, with a did-you-mean for a key
 * that is close to a real one; the first is tb_last_error(). */
static void test_all_errors(void **state)
{
    (void)state;
    const char *path = "all.ini"; /* in the test's folder (setup_dir) */
    st_write_file(path, "[outbox]\n"
                        "retension = 7d\n"
                        "durability = fast\n"
                        "[collector]\n"
                        "type = otlp\n"
                        "endpont = http://127.0.0.1:4318\n"
                        "this is not a line\n"
                        "[w]\n"
                        "type = webhook\n"
                        "url = http://127.0.0.1:\n"
                        "[x\n"
                        "key = skipped\n"
                        "[v]\n"
                        "type = webhook\n"
                        "url = http://[::1\n");
    tb_config *cfg = (tb_config *)1;
    char *errors = NULL;
    assert_int_equal(tb_config_load_report(&cfg, path, &errors), TB_CONFIG);
    assert_null(cfg);
    assert_non_null(errors);
    char want[8][300];
    snprintf(want[0], 300, "%s:2: [outbox] retension: unknown key (did you mean `retention`? ",
             path);
    snprintf(want[1], 300, "%s:3: [outbox] durability: `fast` is not allowed", path);
    snprintf(want[2], 300,
             "%s:6: [collector] endpont: unknown key for type otlp (did you mean "
             "`endpoint`? ",
             path);
    snprintf(want[3], 300, "%s:7: malformed line", path);
    snprintf(want[7], 300, "%s:4: [collector] endpoint: missing", path);
    snprintf(want[4], 300, "%s:10: [w] url: not a usable URL: a `:` with no port after it", path);
    snprintf(want[5], 300, "%s:11: malformed section header", path);
    snprintf(want[6], 300, "%s:15: [v] url: not a usable URL", path);
    const char *at = errors;
    /* the missing key is known when its section ends (at line 8) */
    int order[] = {0, 1, 2, 3, 7, 4, 5, 6};
    for (int k = 0; k < 8; k++) {
        int i = order[k];
        const char *nl = strchr(at, '\n');
        assert_non_null(nl);
        if (strncmp(at, want[i], strlen(want[i])) != 0)
            fail_msg("error %d is\n  %.*s\nwanted\n  %s", i, (int)(nl - at), at, want[i]);
        at = nl + 1;
    }
    assert_string_equal(at, ""); /* nothing more: `key = skipped` made no error */
    assert_int_equal(strncmp(tb_last_error(), want[0], strlen(want[0])), 0);
    tb_free(errors);
}

static int setup_dir(void **state)
{
    (void)state;
    clear_env();
    st_dir_make(tmpdir, sizeof tmpdir);
    if (!getcwd(oldcwd, sizeof oldcwd) || chdir(tmpdir) != 0)
        return -1;
    return 0;
}

static int teardown_dir(void **state)
{
    (void)state;
    if (chdir(oldcwd) != 0)
        return -1;
    st_dir_remove(tmpdir);
    clear_env();
    return 0;
}

static void test_load_file(void **state)
{
    (void)state;
    st_write_file("other.ini", full_ini);
    tb_config *cfg = NULL;
    assert_int_equal(tb_config_load(&cfg, "other.ini"), TB_OK);
    assert_int_equal(tb_config_destination_count(cfg), 8);
    assert_string_equal(tb_dest_config_where(tb_config_destination(cfg, 0), "endpoint"),
                        "other.ini:20");
    tb_config_free(cfg);

    /* A named file that does not exist. */
    cfg = (tb_config *)1;
    assert_int_equal(tb_config_load(&cfg, "missing.ini"), TB_CONFIG);
    assert_null(cfg);
    assert_contains(tb_last_error(), "missing.ini: cannot open the configuration");

    /* $TRACEBOX_CONFIG, also when it names a missing file. */
    setenv("TRACEBOX_CONFIG", "other.ini", 1);
    assert_int_equal(tb_config_load(&cfg, NULL), TB_OK);
    assert_int_equal(tb_config_destination_count(cfg), 8);
    tb_config_free(cfg);
    setenv("TRACEBOX_CONFIG", "gone.ini", 1);
    assert_int_equal(tb_config_load(&cfg, NULL), TB_CONFIG);
    assert_contains(tb_last_error(), "gone.ini");
    unsetenv("TRACEBOX_CONFIG");

    /* ./tracebox.ini next. */
    st_write_file("tracebox.ini", "[outbox]\npath = here.db\n[w]\ntype = webhook\nurl = http://x\n"
                                  "\nbatch_size = x\n");
    assert_int_equal(tb_config_load(&cfg, NULL), TB_CONFIG);
    assert_string_equal(tb_last_error(),
                        "tracebox.ini:7: [w] batch_size: `x` is not an integer (use digits "
                        "only, from 1 to 100000)");
    st_write_file("tracebox.ini", "[outbox]\npath = here.db\n");
    assert_int_equal(tb_config_load(&cfg, NULL), TB_OK);
    assert_string_equal(tb_config_outbox_path(cfg), "here.db");
    assert_string_equal(cfg->file, "tracebox.ini");
    /* A file with no destinations does not fall back to the environment. */
    assert_int_equal(tb_config_destination_count(cfg), 0);
    tb_config_free(cfg);
}

static void test_env_only_default(void **state)
{
    (void)state;
    tb_config *cfg = NULL;
    assert_int_equal(tb_config_load(&cfg, NULL), TB_OK);
    assert_null(cfg->file);
    assert_null(tb_config_outbox_path(cfg));
    assert_int_equal(tb_config_destination_count(cfg), 1);
    const tb_dest_config *d = tb_config_destination(cfg, 0);
    assert_string_equal(tb_dest_config_name(d), "file");
    assert_string_equal(tb_dest_config_type(d), "file");
    assert_string_equal(tb_dest_config_get(d, "path"), "tracebox-export.jsonl");
    assert_string_equal(tb_dest_config_where(d, NULL), "environment");
    assert_string_equal(tb_dest_config_where(d, "path"), "environment");
    assert_int_equal(d->batch_size, 512);
    assert_int_equal(cfg->backoff_base_ms, 1000);
    tb_config_free(cfg);

    /* OPENAI_API_KEY alone is not a destination; nor WANDB_API_KEY alone. */
    setenv("OPENAI_API_KEY", "sk-x", 1);
    setenv("WANDB_API_KEY", "wk", 1);
    assert_int_equal(tb_config_load(&cfg, NULL), TB_OK);
    assert_int_equal(tb_config_destination_count(cfg), 1);
    assert_string_equal(tb_dest_config_name(tb_config_destination(cfg, 0)), "file");
    tb_config_free(cfg);
}

/* The OTel exporter environment spec for an HTTP traces exporter: the
 * TRACES_ variable beats the generic one, a bare timeout is milliseconds,
 * grpc is refused (OTLP/HTTP only); Langfuse's BASE_URL beats the legacy
 * HOST; Phoenix takes PHOENIX_CLIENT_HEADERS. */
static void test_env_only_otel_spec(void **state)
{
    (void)state;
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318", 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "generic=1", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "traces=1", 1);
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json", 1);
    setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "/etc/ssl/collector.pem", 1);
    setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod", 1);
    setenv("OTEL_SERVICE_NAME", "support-bot", 1);
    setenv("LANGFUSE_PUBLIC_KEY", "pk-lf", 1);
    setenv("LANGFUSE_SECRET_KEY", "sk-lf", 1);
    setenv("LANGFUSE_HOST", "https://legacy.example", 1);
    setenv("LANGFUSE_BASE_URL", "https://base.example", 1);
    setenv("PHOENIX_COLLECTOR_ENDPOINT", "http://phoenix:6006", 1);
    setenv("PHOENIX_CLIENT_HEADERS", "api_key=phx", 1);
    tb_config *cfg = NULL;
    assert_int_equal(tb_config_load(&cfg, NULL), TB_OK);
    const tb_dest_config *d = tb_config_find_destination(cfg, "otlp");
    assert_non_null(d);
    assert_string_equal(tb_dest_config_get(d, "headers"), "traces=1");
    assert_string_equal(tb_dest_config_get(d, "protocol"), "http/json");
    assert_string_equal(tb_dest_config_get(d, "compression"), "gzip");
    assert_int_equal(tb_dest_config_timeout_ms(d), 2500);
    assert_string_equal(tb_dest_config_get(d, "ca_file"), "/etc/ssl/collector.pem");
    assert_string_equal(tb_dest_config_get(d, "resource_attributes"),
                        "deployment.environment=prod");
    d = tb_config_find_destination(cfg, "langfuse");
    assert_string_equal(tb_dest_config_get(d, "host"), "https://base.example");
    d = tb_config_find_destination(cfg, "phoenix");
    assert_string_equal(tb_dest_config_get(d, "headers"), "api_key=phx");
    assert_string_equal(tb_dest_config_get(d, "service_name"), "support-bot");
    d = tb_config_find_destination(cfg, "langfuse");
    assert_string_equal(tb_dest_config_get(d, "service_name"), "support-bot");
    tb_config_free(cfg);

    setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc", 1);
    assert_int_equal(tb_config_load(&cfg, NULL), TB_CONFIG);
    assert_contains(tb_last_error(),
                    "environment (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL): [otlp] protocol:");
    assert_contains(tb_last_error(), "use http/protobuf|http/json");
}

static void test_env_only_platforms(void **state)
{
    (void)state;
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318", 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=abc,x=y", 1);
    setenv("LANGFUSE_PUBLIC_KEY", "pk-lf", 1);
    setenv("LANGFUSE_SECRET_KEY", "sk-lf", 1);
    setenv("ARIZE_SPACE_ID", "space", 1);
    setenv("ARIZE_API_KEY", "ak", 1);
    setenv("ARIZE_PROJECT_NAME", "agents", 1);
    setenv("PHOENIX_COLLECTOR_ENDPOINT", "http://phoenix:6006", 1);
    setenv("PHOENIX_API_KEY", "phx", 1);
    setenv("PHOENIX_PROJECT_NAME", "default", 1);
    setenv("WANDB_API_KEY", "wk", 1);
    setenv("WANDB_PROJECT", "proj", 1);
    setenv("WANDB_ENTITY", "team", 1);
    setenv("OPENAI_API_KEY", "sk-oa", 1);
    setenv("TRACEBOX_OPENAI", "1", 1);

    tb_config *cfg = NULL;
    assert_int_equal(tb_config_load(&cfg, NULL), TB_OK);
    assert_int_equal(tb_config_destination_count(cfg), 6);

    const tb_dest_config *d = tb_config_find_destination(cfg, "otlp");
    assert_non_null(d);
    assert_string_equal(tb_dest_config_type(d), "otlp");
    assert_string_equal(tb_dest_config_get(d, "endpoint"), "http://collector:4318");
    assert_string_equal(tb_dest_config_get(d, "headers"), "api-key=abc,x=y");
    assert_null(tb_dest_config_get(d, "traces_endpoint"));
    assert_string_equal(tb_dest_config_where(d, "endpoint"), "environment");
    assert_string_equal(d->file, "environment");
    assert_int_equal(d->line, 0);

    d = tb_config_find_destination(cfg, "langfuse");
    assert_non_null(d);
    assert_string_equal(tb_dest_config_get(d, "host"), "https://cloud.langfuse.com");
    assert_string_equal(tb_dest_config_get(d, "public_key"), "pk-lf");
    assert_string_equal(tb_dest_config_get(d, "secret_key"), "sk-lf");

    d = tb_config_find_destination(cfg, "arize");
    assert_non_null(d);
    assert_string_equal(tb_dest_config_get(d, "space_id"), "space");
    assert_string_equal(tb_dest_config_get(d, "api_key"), "ak");
    assert_string_equal(tb_dest_config_get(d, "project"), "agents");

    d = tb_config_find_destination(cfg, "phoenix");
    assert_non_null(d);
    assert_string_equal(tb_dest_config_get(d, "endpoint"), "http://phoenix:6006");
    assert_string_equal(tb_dest_config_get(d, "api_key"), "phx");
    assert_string_equal(tb_dest_config_get(d, "project"), "default");

    d = tb_config_find_destination(cfg, "wandb");
    assert_non_null(d);
    assert_string_equal(tb_dest_config_get(d, "api_key"), "wk");
    assert_string_equal(tb_dest_config_get(d, "project"), "team/proj");

    d = tb_config_find_destination(cfg, "openai");
    assert_non_null(d);
    assert_string_equal(tb_dest_config_type(d), "openai");
    assert_string_equal(tb_dest_config_get(d, "api_key"), "sk-oa");
    assert_null(tb_config_find_destination(cfg, "file"));
    tb_config_free(cfg);

    /* Variants: traces endpoint, LANGFUSE_BASE_URL, W&B without entity. */
    clear_env();
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/v1/traces", 1);
    setenv("LANGFUSE_PUBLIC_KEY", "pk", 1);
    setenv("LANGFUSE_SECRET_KEY", "sk", 1);
    setenv("LANGFUSE_BASE_URL", "https://eu.langfuse.example", 1);
    setenv("WANDB_API_KEY", "wk", 1);
    setenv("WANDB_PROJECT", "proj", 1);
    assert_int_equal(tb_config_load(&cfg, NULL), TB_OK);
    assert_int_equal(tb_config_destination_count(cfg), 3);
    d = tb_config_find_destination(cfg, "otlp");
    assert_string_equal(tb_dest_config_get(d, "traces_endpoint"), "http://c:4318/v1/traces");
    assert_null(tb_dest_config_get(d, "endpoint"));
    d = tb_config_find_destination(cfg, "langfuse");
    assert_string_equal(tb_dest_config_get(d, "host"), "https://eu.langfuse.example");
    d = tb_config_find_destination(cfg, "wandb");
    assert_string_equal(tb_dest_config_get(d, "project"), "proj");
    tb_config_free(cfg);

    /* A file wins over the environment. */
    st_write_file("tracebox.ini", "[w]\ntype = webhook\nurl = http://x\n");
    assert_int_equal(tb_config_load(&cfg, NULL), TB_OK);
    assert_int_equal(tb_config_destination_count(cfg), 1);
    assert_string_equal(tb_dest_config_name(tb_config_destination(cfg, 0)), "w");
    tb_config_free(cfg);
}

static void test_env_only_errors(void **state)
{
    (void)state;
    tb_config *cfg = (tb_config *)1;
    setenv("LANGFUSE_PUBLIC_KEY", "pk-SECRET", 1);
    assert_int_equal(tb_config_load(&cfg, NULL), TB_CONFIG);
    assert_null(cfg);
    assert_string_equal(tb_last_error(),
                        "environment (LANGFUSE_PUBLIC_KEY): LANGFUSE_PUBLIC_KEY is set but "
                        "LANGFUSE_SECRET_KEY is not (set both, or neither)");
    clear_env();

    setenv("TRACEBOX_OPENAI", "1", 1);
    assert_int_equal(tb_config_load(&cfg, NULL), TB_CONFIG);
    assert_contains(tb_last_error(), "OPENAI_API_KEY is not set");
    clear_env();

    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", 1);
    assert_int_equal(tb_config_load(&cfg, NULL), TB_CONFIG);
    assert_string_equal(tb_last_error(),
                        "environment (OTEL_EXPORTER_OTLP_ENDPOINT): [otlp] endpoint: not an "
                        "http:// or https:// URL (write the full URL, e.g. https://host:port)");
    clear_env();

    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c", 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization Bearer SECRET", 1);
    assert_int_equal(tb_config_load(&cfg, NULL), TB_CONFIG);
    assert_string_equal(tb_last_error(), "environment (OTEL_EXPORTER_OTLP_HEADERS): [otlp] "
                                         "headers: item 1 is not name=value (write "
                                         "Name=value,Other=value)");
    assert_lacks(tb_last_error(), "SECRET");
}

/* ---- allocation failures ---- */

static void test_alloc_failures(void **state)
{
    (void)state;
    setenv("TBT_SET", "v", 1);
    for (long n = 0;; n++) {
        tb__alloc_fail_after(n);
        tb_config *cfg = (tb_config *)1;
        tb_status st = tb_config_parse(&cfg, full_ini, "t.ini");
        tb__alloc_fail_after(-1);
        if (st == TB_OK) {
            assert_int_equal(tb_config_destination_count(cfg), 8);
            tb_config_free(cfg);
            assert_true(n > 10);
            break;
        }
        assert_int_equal(st, TB_NOMEM);
        assert_null(cfg);
        assert_true(n < 100000);
    }
    for (long n = 0;; n++) {
        tb__alloc_fail_after(n);
        tb_config *cfg = (tb_config *)1;
        tb_status st = tb_config_load(&cfg, NULL);
        tb__alloc_fail_after(-1);
        if (st == TB_OK) {
            tb_config_free(cfg);
            break;
        }
        assert_int_equal(st, TB_NOMEM);
        assert_null(cfg);
        assert_true(n < 100000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_full_file, setup),
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_null_arguments, setup),
        cmocka_unit_test_setup(test_unknown_key, setup),
        cmocka_unit_test_setup(test_bad_values, setup),
        cmocka_unit_test_setup(test_type_errors, setup),
        cmocka_unit_test_setup(test_duplicate_section, setup),
        cmocka_unit_test_setup(test_missing_required, setup),
        cmocka_unit_test_setup(test_malformed_line, setup),
        cmocka_unit_test_setup(test_expansion, setup),
        cmocka_unit_test_setup(test_comments, setup),
        cmocka_unit_test_setup_teardown(test_all_errors, setup_dir, teardown_dir),
        cmocka_unit_test_setup(test_secrets_not_echoed, setup),
        cmocka_unit_test_setup(test_registered_type, setup),
        cmocka_unit_test_setup(test_registered_table, setup),
        cmocka_unit_test_setup(test_builtin_tables, setup),
        cmocka_unit_test_setup(test_where_is_pure, setup),
        cmocka_unit_test_setup_teardown(test_load_file, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_env_only_default, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_env_only_platforms, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_env_only_otel_spec, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_env_only_errors, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
