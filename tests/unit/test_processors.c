/*
 * test_processors.c — the processor fan-out (src/model/processors.c).
 *
 * Recording processors write "<name>:<hook>" into one log so the order of
 * calls across processors is visible. Checked: registration order, a failing
 * processor does not stop the later ones and the first failure is returned,
 * tb_set_trace_processors replaces the list and releases the old ones,
 * tb_force_flush / tb_shutdown reach every processor, hook counts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "internal.h"

typedef struct rp {
    char name[8];
    tb_status ret; /* what every hook returns */
    int trace_starts, trace_ends, span_starts, span_ends, flushes, shutdowns, releases;
    int64_t last_timeout;
    int span_end_saw_ended;  /* on_span_end saw ended_at set */
    int span_start_saw_open; /* on_span_start saw ended_at null */
} rp;

static char g_log[8192];
/* static so a release after a test returns never touches a dead frame */
static rp p1, p2, p3;

static void logf_(const rp *p, const char *hook)
{
    size_t n = strlen(g_log);
    snprintf(g_log + n, sizeof g_log - n, "%s%s:%s", n ? " " : "", p->name, hook);
}

static bool ended_at_set(const tb_span *s)
{
    char *json = NULL;
    assert_int_equal(tb_span_export_json(s, &json), TB_OK);
    cJSON *o = cJSON_Parse(json);
    tb_free(json);
    assert_non_null(o);
    bool set = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "ended_at"));
    cJSON_Delete(o);
    return set;
}

static tb_status h_trace_start(void *self, const tb_trace *t)
{
    rp *p = self;
    assert_non_null(t);
    logf_(p, "ts");
    p->trace_starts++;
    if (p->ret != TB_OK)
        tb__set_error(p->ret, "%s refused the trace", p->name);
    return p->ret;
}
static tb_status h_trace_end(void *self, const tb_trace *t)
{
    rp *p = self;
    assert_non_null(t);
    logf_(p, "te");
    p->trace_ends++;
    return p->ret;
}
static tb_status h_span_start(void *self, const tb_span *s)
{
    rp *p = self;
    logf_(p, "ss");
    p->span_starts++;
    if (!ended_at_set(s))
        p->span_start_saw_open++;
    return p->ret;
}
static tb_status h_span_end(void *self, const tb_span *s)
{
    rp *p = self;
    logf_(p, "se");
    p->span_ends++;
    if (ended_at_set(s))
        p->span_end_saw_ended++;
    if (p->ret != TB_OK)
        tb__set_error(p->ret, "%s refused span %s", p->name, tb_span_id(s));
    return p->ret;
}
static tb_status h_flush(void *self)
{
    rp *p = self;
    logf_(p, "fl");
    p->flushes++;
    return p->ret;
}
static tb_status h_shutdown(void *self, int64_t timeout_ms)
{
    rp *p = self;
    logf_(p, "sd");
    p->shutdowns++;
    p->last_timeout = timeout_ms;
    return p->ret;
}
static void h_release(void *self)
{
    rp *p = self;
    logf_(p, "rel");
    p->releases++;
}

static tb_processor make(rp *p, const char *name, tb_status ret)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ret = ret;
    tb_processor pr = {0};
    pr.version = TB_PROCESSOR_VERSION;
    pr.self = p;
    pr.on_trace_start = h_trace_start;
    pr.on_trace_end = h_trace_end;
    pr.on_span_start = h_span_start;
    pr.on_span_end = h_span_end;
    pr.force_flush = h_flush;
    pr.shutdown = h_shutdown;
    pr.release = h_release;
    return pr;
}

static int setup(void **state)
{
    (void)state;
    tb_set_tracing_disabled(0);
    assert_int_equal(tb_set_trace_processors(NULL, 0), TB_OK);
    g_log[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tb_set_trace_processors(NULL, 0);
    return 0;
}

/* One trace with a parent span and a child span, all ended. */
static void run_workload(tb_status *st_trace_start, tb_status *st_span_end)
{
    tb_trace *t = NULL;
    tb_span *a = NULL, *b = NULL;
    tb_status st = tb_trace_start(&t, "w", NULL);
    if (st_trace_start)
        *st_trace_start = st;
    assert_non_null(t); /* a processor failure does not fail the trace */
    tb_span_start_agent(&a, t, NULL, "A");
    assert_non_null(a);
    tb_span_start_function(&b, t, a, "f", NULL);
    assert_non_null(b);
    tb_span_end(b);
    st = tb_span_end(a);
    if (st_span_end)
        *st_span_end = st;
    tb_trace_end(t);
    tb_span_free(b);
    tb_span_free(a);
    tb_trace_free(t);
}

static void test_registration_order(void **state)
{
    (void)state;
    tb_processor a = make(&p1, "p1", TB_OK), b = make(&p2, "p2", TB_OK), c = make(&p3, "p3", TB_OK);
    assert_int_equal(tb_add_trace_processor(&a), TB_OK);
    assert_int_equal(tb_add_trace_processor(&b), TB_OK);
    assert_int_equal(tb_add_trace_processor(&c), TB_OK);
    /* the struct was copied: changing ours afterwards does nothing */
    a.on_trace_start = NULL;
    tb_status st1 = TB_ERROR, st2 = TB_ERROR;
    run_workload(&st1, &st2);
    assert_int_equal(st1, TB_OK);
    assert_int_equal(st2, TB_OK);
    assert_string_equal(g_log, "p1:ts p2:ts p3:ts "
                               "p1:ss p2:ss p3:ss "
                               "p1:ss p2:ss p3:ss "
                               "p1:se p2:se p3:se "
                               "p1:se p2:se p3:se "
                               "p1:te p2:te p3:te");
    /* hooks see the span's state: open at start, ended at end */
    assert_int_equal(p1.span_start_saw_open, 2);
    assert_int_equal(p3.span_end_saw_ended, 2);
    assert_int_equal(p1.releases + p2.releases + p3.releases, 0);
}

static void test_failing_processor_does_not_stop_others(void **state)
{
    (void)state;
    tb_processor list[3] = {make(&p1, "p1", TB_OK), make(&p2, "p2", TB_IO),
                            make(&p3, "p3", TB_ERROR)};
    assert_int_equal(tb_set_trace_processors(list, 3), TB_OK);
    tb_status st1 = TB_OK, st2 = TB_OK;
    run_workload(&st1, &st2);
    /* the first failure (p2's) is returned */
    assert_int_equal(st1, TB_IO);
    assert_int_equal(st2, TB_IO);
    /* and everyone after it still ran, every time */
    assert_int_equal(p3.trace_starts, 1);
    assert_int_equal(p3.span_starts, 2);
    assert_int_equal(p3.span_ends, 2);
    assert_int_equal(p3.trace_ends, 1);
    assert_int_equal(p1.span_ends, 2);

    /* the last error names the failing processor and keeps its message */
    tb_trace *t = NULL;
    assert_int_equal(tb_trace_start(&t, "w", NULL), TB_IO);
    assert_non_null(t);
    assert_non_null(strstr(tb_last_error(), "p2 refused the trace"));
    assert_non_null(strstr(tb_last_error(), "processor 1"));
    tb_trace_end(t);
    tb_trace_free(t);

    /* flush: all called, first failure returned */
    g_log[0] = '\0';
    assert_int_equal(tb_force_flush(), TB_IO);
    assert_string_equal(g_log, "p1:fl p2:fl p3:fl");

    /* a later success clears nothing it should not: with p2 fixed, OK */
    p2.ret = TB_OK;
    p3.ret = TB_OK;
    assert_int_equal(tb_force_flush(), TB_OK);
}

static void test_set_replaces_and_releases(void **state)
{
    (void)state;
    tb_processor a = make(&p1, "p1", TB_OK), b = make(&p2, "p2", TB_OK), c = make(&p3, "p3", TB_OK);
    assert_int_equal(tb_add_trace_processor(&a), TB_OK);
    assert_int_equal(tb_add_trace_processor(&b), TB_OK);
    g_log[0] = '\0';
    assert_int_equal(tb_set_trace_processors(&c, 1), TB_OK);
    /* the old ones released once each, in order, and not shut down */
    assert_string_equal(g_log, "p1:rel p2:rel");
    assert_int_equal(p1.releases, 1);
    assert_int_equal(p2.releases, 1);
    assert_int_equal(p1.shutdowns + p2.shutdowns, 0);
    assert_int_equal(p3.releases, 0);

    g_log[0] = '\0';
    run_workload(NULL, NULL);
    assert_int_equal(p1.trace_starts + p2.trace_starts, 0);
    assert_int_equal(p3.trace_starts, 1);
    assert_int_equal(p3.span_ends, 2);
    assert_null(strstr(g_log, "p1:"));

    /* a bad list is refused and the current one kept */
    tb_processor bad = make(&p1, "bad", TB_OK);
    bad.version = 99;
    assert_int_equal(tb_set_trace_processors(&bad, 1), TB_INVALID);
    assert_int_equal(tb_add_trace_processor(&bad), TB_INVALID);
    assert_int_equal(p3.releases, 0);
    assert_int_equal(tb_force_flush(), TB_OK);
    assert_int_equal(p3.flushes, 1);
    assert_int_equal(p1.flushes, 0);

    /* clearing releases the last one */
    assert_int_equal(tb_set_trace_processors(NULL, 0), TB_OK);
    assert_int_equal(p3.releases, 1);
    run_workload(NULL, NULL);
    assert_int_equal(p3.trace_starts, 1);
}

static void test_flush_and_shutdown_reach_everyone(void **state)
{
    (void)state;
    tb_processor list[3] = {make(&p1, "p1", TB_OK), make(&p2, "p2", TB_OK), make(&p3, "p3", TB_OK)};
    /* a processor with every hook NULL is allowed and skipped */
    tb_processor empty = {0};
    empty.version = TB_PROCESSOR_VERSION;
    assert_int_equal(tb_set_trace_processors(list, 3), TB_OK);
    assert_int_equal(tb_add_trace_processor(&empty), TB_OK);
    g_log[0] = '\0';
    assert_int_equal(tb_force_flush(), TB_OK);
    assert_string_equal(g_log, "p1:fl p2:fl p3:fl");
    assert_int_equal(tb_force_flush(), TB_OK);
    assert_int_equal(p2.flushes, 2);

    g_log[0] = '\0';
    p2.ret = TB_TIMEOUT;
    assert_int_equal(tb_shutdown(5000), TB_TIMEOUT);
    /* every shutdown ran, then every release */
    assert_string_equal(g_log, "p1:sd p2:sd p3:sd p1:rel p2:rel p3:rel");
    assert_int_equal(p1.shutdowns, 1);
    assert_int_equal(p3.shutdowns, 1);
    assert_true(p1.last_timeout >= 0 && p1.last_timeout <= 5000);
    assert_true(p3.last_timeout >= 0 && p3.last_timeout <= p1.last_timeout);

    /* after shutdown the list is empty */
    g_log[0] = '\0';
    run_workload(NULL, NULL);
    assert_int_equal(tb_force_flush(), TB_OK);
    assert_string_equal(g_log, "");
    assert_int_equal(tb_shutdown(0), TB_OK);
    assert_int_equal(p1.releases, 1);
}

static void test_hook_counts(void **state)
{
    (void)state;
    tb_processor list[2] = {make(&p1, "p1", TB_OK), make(&p2, "p2", TB_OK)};
    /* p2 only listens to span ends */
    list[1].on_trace_start = NULL;
    list[1].on_trace_end = NULL;
    list[1].on_span_start = NULL;
    assert_int_equal(tb_set_trace_processors(list, 2), TB_OK);

    enum { TRACES = 5, SPANS = 40 };
    for (int i = 0; i < TRACES; i++) {
        tb_trace *t = NULL;
        assert_int_equal(tb_trace_start(&t, "w", NULL), TB_OK);
        tb_span *root = NULL;
        assert_int_equal(tb_span_start_agent(&root, t, NULL, "root"), TB_OK);
        for (int k = 0; k < SPANS - 1; k++) {
            tb_span *s = NULL;
            assert_int_equal(tb_span_start_custom(&s, t, root, "c", NULL), TB_OK);
            assert_int_equal(tb_span_end(s), TB_OK);
            /* a second end is refused and not fanned out */
            assert_int_equal(tb_span_end(s), TB_MISUSE);
            tb_span_free(s);
        }
        /* a span never ended is never reported as ended */
        tb_span *open = NULL;
        assert_int_equal(tb_span_start_custom(&open, t, root, "open", NULL), TB_OK);
        tb_span_free(open);
        assert_int_equal(tb_span_end(root), TB_OK);
        assert_int_equal(tb_trace_end(t), TB_OK);
        assert_int_equal(tb_trace_end(t), TB_MISUSE);
        tb_span_free(root);
        tb_trace_free(t);
    }
    assert_int_equal(p1.trace_starts, TRACES);
    assert_int_equal(p1.trace_ends, TRACES);
    assert_int_equal(p1.span_starts, TRACES * (SPANS + 1));
    assert_int_equal(p1.span_ends, TRACES * SPANS);
    assert_int_equal(p1.span_end_saw_ended, TRACES * SPANS);
    assert_int_equal(p2.span_ends, TRACES * SPANS);
    assert_int_equal(p2.trace_starts + p2.span_starts + p2.trace_ends, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_registration_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_processor_does_not_stop_others, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_set_replaces_and_releases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_and_shutdown_reach_everyone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hook_counts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
