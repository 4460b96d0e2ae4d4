/*
 * export_host.c — tb_export_host_*: what an exporter may ask the shipper
 * during a send (export_host.h). The questions about the outbox are the
 * store's statements (store.c); this file only checks arguments.
 */
#include "export_host.h"
#include "store.h"

tb_status tb_export_host_trace(const tb_export_host *host, const char *trace_id, char **out_json)
{
    if (!out_json)
        return tb__set_error(TB_INVALID, "tb_export_host_trace: out_json is NULL");
    *out_json = NULL;
    if (!host || !trace_id)
        return tb__set_error(TB_INVALID, "tb_export_host_trace: NULL argument");
    if (!host->db)
        return tb__set_error(TB_NOT_FOUND, "no outbox behind this send");
    return tb__store_trace_record(host->db, host->keep_stmts, trace_id, out_json);
}

tb_status tb_export_host_spans(const tb_export_host *host, const char *trace_id, int64_t before_seq,
                               const char *const *types, tb_record_fn fn, void *ctx)
{
    if (!host || !trace_id || !fn)
        return tb__set_error(TB_INVALID, "tb_export_host_spans: NULL argument");
    if (!host->db)
        return tb__set_error(TB_NOT_FOUND, "no outbox behind this send");
    return tb__store_trace_spans(host->db, host->keep_stmts, trace_id, before_seq, types, fn, ctx);
}

int tb_export_host_stopping(const tb_export_host *host)
{
    return host && host->abort && atomic_load(host->abort) ? 1 : 0;
}
