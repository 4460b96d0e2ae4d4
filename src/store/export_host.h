/*
 * export_host.h — the host an exporter gets with each batch (internal; the
 * public face is tb_export_host in include/tracebox/exporter.h). The
 * shipper fills one on its stack around every send_with() call: the
 * connection it is shipping from and the flag tb_shipper_stop() raises to
 * abort a send in flight. Nothing thread-local: an exporter (or the HTTP
 * transport under it) asks the host it was handed.
 */
#ifndef TRACEBOX_EXPORT_HOST_H
#define TRACEBOX_EXPORT_HOST_H

#include "internal.h"

#include <sqlite3.h>
#include <stdatomic.h>

struct tb_export_host {
    sqlite3 *db;             /* the outbox being shipped; NULL: none */
    const atomic_int *abort; /* set: give up the send in flight; NULL: never */
    /* db keeps the statements of the questions below across sends
     * (tb__db_stmt; the shipper finalizes them before it closes db) */
    bool keep_stmts;
};

#endif
