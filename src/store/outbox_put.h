/*
 * outbox_put.h — storing records that were decoded outside the record
 * codec: the spans `tracebox serve` receives over OTLP (src/otlp/ingest.c)
 * are turned into records there and handed down here (internal).
 */
#ifndef TRACEBOX_OUTBOX_PUT_H
#define TRACEBOX_OUTBOX_PUT_H

#include "record.h"
#include "tracebox/outbox.h"

/* Does the outbox replace inputs and outputs before storing (redact)? */
bool tb__outbox_redacts(const tb_outbox *ob);

/* Store n records with their bodies in as few transactions as the writer
 * makes, and wait until each is committed (in every durability mode, as
 * tb_outbox_put_json_many does): res[i] says what became of record i
 * (stored, or already stored, is TB_OK). Takes ownership of recs[i] (its
 * strings; cleared) and bodies[i] (tb__malloc'd, lens[i] bytes; set to
 * NULL). Returns TB_OK when every record was tried, else why none was. */
tb_status tb__outbox_put_decoded(tb_outbox *ob, tb__record *recs, char **bodies, const size_t *lens,
                                 size_t n, tb_put_result *res);

#endif
