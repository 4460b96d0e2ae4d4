/*
 * test_export_host.c — the exporter contract, version 2, from a user's
 * side: an exporter registered in this file (public API only) gets with
 * each batch a host through which it looks up a trace record that came in
 * an earlier batch, reads the trace's other spans, and sees the shipper's
 * request to give up a send in flight. A `requeue --all` made while a
 * batch is out is not undone by that batch's commit. A version 1 exporter
 * still works.
 */
#include "fixture.h"

#include <stdatomic.h>

#define TRACE "trace_my-app-1234"

static void fill(const char *db)
{
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, db, NULL), TB_OK);
    st_put_json(ob, "{\"object\":\"trace\",\"id\":\"" TRACE "\",\"workflow_name\":\"Support\","
                    "\"group_id\":null,\"metadata\":null}");
    const char *types[] = {"handoff", "generation", "agent"};
    for (int i = 0; i < 3; i++) {
        char span[512];
        snprintf(span, sizeof span,
                 "{\"object\":\"trace.span\",\"id\":\"span_%d\",\"trace_id\":\"" TRACE "\","
                 "\"parent_id\":null,\"started_at\":null,\"ended_at\":null,\"error\":null,"
                 "\"span_data\":{\"type\":\"%s\"}}",
                 i, types[i]);
        st_put_json(ob, span);
    }
    tb_outbox_close(ob);
}

/* ---- an exporter that asks the host ------------------------------------ */

typedef struct seen {
    int batches, found_trace, spans_before_last;
    char workflow[64];
} seen;
static seen g_seen;

static tb_status probe_create(void **self, const tb_dest_config *cfg, char *err, size_t size)
{
    (void)cfg;
    (void)err;
    (void)size;
    *self = &g_seen;
    return TB_OK;
}

static int count_span(void *ctx, const tb_record *r)
{
    (void)r;
    (*(int *)ctx)++;
    return 0;
}

/* The host's questions may be asked again from inside a callback: the
 * outer iteration goes on unharmed (the shipper keeps one statement per
 * question and a nested ask gets its own). */
typedef struct nest {
    const tb_export_host *host;
    int outer, inner;
    bool body_ok;
} nest;

static int nested_span(void *ctx, const tb_record *r)
{
    nest *ns = ctx;
    ns->outer++;
    assert_int_equal(tb_export_host_spans(ns->host, r->trace_id, 0, NULL, count_span, &ns->inner),
                     TB_OK);
    /* the outer record is still readable after the nested question */
    ns->body_ok = ns->body_ok && r->body && r->body[0] == '{' && strstr(r->body, r->span_id);
    return 0;
}

static tb_status probe_send_with(void *self, const tb_export_host *host, const tb_record *records,
                                 size_t n, tb_export_result *result)
{
    seen *s = self;
    s->batches++;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(records[i].kind, "span") != 0)
            continue;
        char *trace = NULL;
        if (tb_export_host_trace(host, records[i].trace_id, &trace) == TB_OK) {
            s->found_trace++;
            const char *wf = strstr(trace, "\"workflow_name\":\"");
            if (wf)
                sscanf(wf + 17, "%63[^\"]", s->workflow);
            tb_free(trace);
        }
        /* the trace's spans stored before this one, of two types */
        static const char *const types[] = {"handoff", "agent", NULL};
        int count = 0;
        assert_int_equal(tb_export_host_spans(host, records[i].trace_id, records[i].seq, types,
                                              count_span, &count),
                         TB_OK);
        s->spans_before_last = count;
        nest ns = {host, 0, 0, true};
        assert_int_equal(tb_export_host_spans(host, records[i].trace_id, 0, NULL, nested_span, &ns),
                         TB_OK);
        assert_int_equal(ns.outer, 3); /* every span of the trace, the nested asks done */
        assert_int_equal(ns.inner, 9);
        assert_true(ns.body_ok);
    }
    assert_int_equal(tb_export_host_stopping(host), 0);
    result->outcome = TB_EXPORT_DELIVERED;
    return TB_OK;
}

static void probe_destroy(void *self)
{
    (void)self;
}

static const tb_exporter_vtable probe_vt = {
    .version = TB_EXPORTER_VERSION,
    .type = "probe",
    .create = probe_create,
    .send_with = probe_send_with,
    .destroy = probe_destroy,
};

static void test_host_lookups(void **state)
{
    (void)state;
    char db[300];
    snprintf(db, sizeof db, "%s/h.db", st_tmp());
    fill(db);
    assert_int_equal(tb_exporter_register(&probe_vt), TB_OK);
    tb_config *cfg = NULL;
    /* one record per batch: every span's trace record came in an earlier one */
    assert_int_equal(tb_config_parse(&cfg, "[p]\ntype = probe\nbatch_size = 1\n", "test"), TB_OK);
    memset(&g_seen, 0, sizeof g_seen);
    tb_ship_report rep;
    assert_int_equal(tb_ship_once(db, cfg, NULL, &rep), TB_OK);
    assert_int_equal(rep.delivered, 4);
    assert_int_equal(g_seen.batches, 4);
    assert_int_equal(g_seen.found_trace, 3);
    assert_string_equal(g_seen.workflow, "Support");
    /* before the agent span (seq 4): the handoff (seq 2); not the generation */
    assert_int_equal(g_seen.spans_before_last, 1);
    tb_config_free(cfg);
    /* the host's answers are for senders only */
    char *out = (char *)1;
    assert_int_equal(tb_export_host_trace(NULL, TRACE, &out), TB_INVALID);
    assert_null(out);
    assert_int_equal(tb_export_host_stopping(NULL), 0);
}

/* ---- an exporter stuck in a send sees the stop ---------------------------- */

static atomic_int g_in_send, g_saw_stop;

static tb_status stuck_send_with(void *self, const tb_export_host *host, const tb_record *records,
                                 size_t n, tb_export_result *result)
{
    (void)self;
    (void)records;
    (void)n;
    atomic_store(&g_in_send, 1);
    /* a slow platform: wait (bounded) until the shipper says give up */
    for (int i = 0; i < 20000 && !tb_export_host_stopping(host); i++) {
        st_nap_ms(1);
    }
    atomic_store(&g_saw_stop, tb_export_host_stopping(host));
    result->outcome = TB_EXPORT_RETRY;
    result->unknown_outcome = 1;
    snprintf(result->message, sizeof result->message, "gave up: stopping");
    return TB_OK;
}

static const tb_exporter_vtable stuck_vt = {
    .version = TB_EXPORTER_VERSION,
    .type = "stuck",
    .create = probe_create,
    .send_with = stuck_send_with,
    .destroy = probe_destroy,
};

static void test_host_stopping(void **state)
{
    (void)state;
    char db[300];
    snprintf(db, sizeof db, "%s/s.db", st_tmp());
    fill(db);
    assert_int_equal(tb_exporter_register(&stuck_vt), TB_OK);
    tb_config *cfg = NULL;
    assert_int_equal(tb_config_parse(&cfg, "[s]\ntype = stuck\n", "test"), TB_OK);
    tb_shipper *sh = NULL;
    atomic_store(&g_in_send, 0);
    atomic_store(&g_saw_stop, 0);
    assert_int_equal(tb_shipper_start(&sh, db, cfg, NULL), TB_OK);
    for (int i = 0; i < 20000 && !atomic_load(&g_in_send); i++) {
        st_nap_ms(1);
    }
    assert_int_equal(atomic_load(&g_in_send), 1);
    /* half the allowance for the send to finish, then the host says stop */
    assert_int_equal(tb_shipper_stop(sh, 10000), TB_OK);
    assert_int_equal(atomic_load(&g_saw_stop), 1);
    tb_config_free(cfg);
}

/* ---- requeue --all while a batch is out is not undone by its commit -------- */

static char g_requeue_db[300];
static int g_requeue_sends;

static tb_status requeue_send_with(void *self, const tb_export_host *host, const tb_record *records,
                                   size_t n, tb_export_result *result)
{
    (void)self;
    (void)host;
    (void)records;
    (void)n;
    if (++g_requeue_sends == 2) {
        /* an operator runs `tracebox requeue --all` while this batch is out */
        tb_admin *a = NULL;
        assert_int_equal(tb_admin_open(&a, g_requeue_db, 0), TB_OK);
        int64_t back = 0;
        assert_int_equal(tb_admin_requeue(a, NULL, 1, &back, NULL), TB_OK);
        tb_admin_close(a);
    }
    result->outcome = TB_EXPORT_DELIVERED;
    return TB_OK;
}

static const tb_exporter_vtable requeue_vt = {
    .version = TB_EXPORTER_VERSION,
    .type = "requeuer",
    .create = probe_create,
    .send_with = requeue_send_with,
    .destroy = probe_destroy,
};

static void test_requeue_during_flight(void **state)
{
    (void)state;
    snprintf(g_requeue_db, sizeof g_requeue_db, "%s/r.db", st_tmp());
    fill(g_requeue_db);
    assert_int_equal(tb_exporter_register(&requeue_vt), TB_OK);
    tb_config *cfg = NULL;
    assert_int_equal(tb_config_parse(&cfg, "[r]\ntype = requeuer\n", "test"), TB_OK);
    g_requeue_sends = 0;
    tb_ship_report rep;
    assert_int_equal(tb_ship_once(g_requeue_db, cfg, NULL, &rep), TB_OK);
    assert_int_equal(rep.delivered, 4); /* caught up: the cursor is at 4 */
    /* four new records; while their batch is out the operator puts every
     * record back in line: that batch's commit must not move the cursor
     * past what the operator put back, so all eight go out again */
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, g_requeue_db, NULL), TB_OK);
    for (int i = 10; i < 14; i++) {
        char span[512];
        snprintf(span, sizeof span,
                 "{\"object\":\"trace.span\",\"id\":\"span_%d\",\"trace_id\":\"" TRACE "\","
                 "\"parent_id\":null,\"started_at\":null,\"ended_at\":null,\"error\":null,"
                 "\"span_data\":{\"type\":\"custom\"}}",
                 i);
        st_put_json(ob, span);
    }
    tb_outbox_close(ob);
    assert_int_equal(tb_ship_once(g_requeue_db, cfg, NULL, &rep), TB_OK);
    assert_int_equal(g_requeue_sends, 3);
    assert_int_equal(rep.delivered, 4 + 8);
    assert_int_equal(rep.pending, 0);
    tb_config_free(cfg);
}

/* ---- a lease that ran out mid-batch is not taken again for a stale batch --- */

static char g_stale_db[300];
static int g_stale_sends;

static tb_status stale_send_with(void *self, const tb_export_host *host, const tb_record *records,
                                 size_t n, tb_export_result *result)
{
    (void)self;
    (void)host;
    (void)records;
    if (++g_stale_sends == 1) {
        /* a server slow enough that a third of the lease passes (the point
         * at which a shipper renews it) ... */
        st_nap_ms(3600);
        /* ... and meanwhile this process was stopped past its lease: another
         * shipper took it over, delivered this very batch and let go */
        st_db_exec(g_stale_db,
                   "UPDATE destinations SET lease_owner = NULL, lease_until = NULL, cursor = "
                   "(SELECT max(seq) FROM records), delivered = delivered + %zu",
                   n);
        /* a 400: the shipper bisects, and before each half it checks its lease */
        result->outcome = TB_EXPORT_REFUSED;
        result->http_status = 400;
        return TB_OK;
    }
    result->outcome = TB_EXPORT_DELIVERED;
    return TB_OK;
}

static const tb_exporter_vtable stale_vt = {
    .version = TB_EXPORTER_VERSION,
    .type = "staler",
    .create = probe_create,
    .send_with = stale_send_with,
    .destroy = probe_destroy,
};

static void test_lease_ran_out_mid_batch(void **state)
{
    (void)state;
    snprintf(g_stale_db, sizeof g_stale_db, "%s/s.db", st_tmp());
    fill(g_stale_db);
    assert_int_equal(tb_exporter_register(&stale_vt), TB_OK);
    tb_config *cfg = NULL;
    /* lease = 2 x timeout + 10 s at the least: 10.2 s, renewed after 3.4 s */
    assert_int_equal(
        tb_config_parse(&cfg, "[shipper]\nlease = 1ms\n[s]\ntype = staler\ntimeout = 100ms\n",
                        "test"),
        TB_OK);
    g_stale_sends = 0;
    tb_ship_report rep;
    assert_int_equal(tb_ship_once(g_stale_db, cfg, NULL, &rep), TB_OK);
    /* the other shipper delivered the batch: no half of it goes out again
     * (before: the lease was simply taken again and the halves re-sent),
     * nothing is dead-lettered for a refusal of a batch that was not ours */
    assert_int_equal(g_stale_sends, 1);
    assert_int_equal(st_db_int(g_stale_db, "SELECT count(*) FROM dead_letters"), 0);
    assert_int_equal(st_db_int(g_stale_db, "SELECT count(*) FROM pending"), 0);
    tb_config_free(cfg);
}

/* ---- a version 1 exporter (send only, no host) still works ---------------- */

static int g_v1_records;

static tb_status v1_send(void *self, const tb_record *records, size_t n, tb_export_result *result)
{
    (void)self;
    (void)records;
    g_v1_records += (int)n;
    result->outcome = TB_EXPORT_DELIVERED;
    return TB_OK;
}

static void test_version_1(void **state)
{
    (void)state;
    /* the first layout: nothing after destroy */
    static const struct {
        unsigned version;
        const char *type;
        const char *const *keys;
        tb_status (*create)(void **, const tb_dest_config *, char *, size_t);
        tb_status (*send)(void *, const tb_record *, size_t, tb_export_result *);
        tb_status (*flush)(void *);
        void (*destroy)(void *);
    } v1 = {1, "old", NULL, probe_create, v1_send, NULL, probe_destroy};
    assert_int_equal(tb_exporter_register((const tb_exporter_vtable *)(const void *)&v1), TB_OK);
    char db[300];
    snprintf(db, sizeof db, "%s/v1.db", st_tmp());
    fill(db);
    tb_config *cfg = NULL;
    assert_int_equal(tb_config_parse(&cfg, "[o]\ntype = old\n", "test"), TB_OK);
    tb_ship_report rep;
    g_v1_records = 0;
    assert_int_equal(tb_ship_once(db, cfg, NULL, &rep), TB_OK);
    assert_int_equal(g_v1_records, 4);
    tb_config_free(cfg);
    /* version 3 does not exist yet */
    tb_exporter_vtable bad = probe_vt;
    bad.version = 3;
    assert_int_equal(tb_exporter_register(&bad), TB_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lease_ran_out_mid_batch, st_tmp_setup,
                                        st_tmp_teardown),
        cmocka_unit_test_setup_teardown(test_host_lookups, st_tmp_setup, st_tmp_teardown),
        cmocka_unit_test_setup_teardown(test_host_stopping, st_tmp_setup, st_tmp_teardown),
        cmocka_unit_test_setup_teardown(test_requeue_during_flight, st_tmp_setup, st_tmp_teardown),
        cmocka_unit_test_setup_teardown(test_version_1, st_tmp_setup, st_tmp_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
