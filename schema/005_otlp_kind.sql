-- 005_otlp_kind.sql — records of a third kind, 'otlp': spans that
-- `tracebox serve` receives over OTLP/HTTP from any OpenTelemetry SDK.
--
-- Their body is the span in the OTLP/JSON mapping (traceId, spanId,
-- parentSpanId, name, kind, startTimeUnixNano, endTimeUnixNano, attributes,
-- events, links, status, ...) with the resource and the instrumentation
-- scope it came with beside it ("resource", "scope"); the columns are
-- filled as for the other kinds: trace_id and span_id as lowercase hex,
-- parent_id NULL for a root, type the OTel span kind ('internal',
-- 'server', 'client', 'producer', 'consumer', 'unspecified'), name,
-- started_at / ended_at as UTC ISO-8601, error {"message": ...} when the
-- status is ERROR. One row per (trace_id, span_id): a span received twice
-- (an SDK's retry) is stored once.
--
-- The kind column's CHECK constraint admitted only 'trace' and 'span', and
-- SQLite cannot change a constraint in place, so the table is rebuilt
-- (SQLite's documented procedure, inside the migration's transaction: a
-- crash leaves the file as it was; tests/crash kills it to check). Every
-- column stays stored, the bytes of every row are copied unchanged, and the
-- last seq handed out survives (seq is never reused). Everything that names
-- `records` is dropped first and made again after.

DROP VIEW IF EXISTS pending_by_destination;
DROP VIEW IF EXISTS dead_letter_reasons;
DROP VIEW IF EXISTS token_usage_daily;
DROP VIEW IF EXISTS span_durations;
DROP VIEW IF EXISTS outbox_status;
DROP VIEW IF EXISTS pending;
DROP TRIGGER IF EXISTS records_deleted_count;

CREATE TABLE records_new (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('trace', 'span', 'otlp')),
    trace_id   TEXT NOT NULL,
    span_id    TEXT,                 -- NULL for a trace
    parent_id  TEXT,                 -- NULL when the parent is the trace
    type       TEXT,                 -- span_data.type; 'trace' for a trace; the OTel kind for otlp
    name       TEXT,                 -- workflow_name, agent/tool name, model, span name, …
    started_at TEXT,                 -- ISO-8601 as the SDK wrote it
    ended_at   TEXT,
    error      TEXT,                 -- the span's error object (JSON) or NULL
    body       TEXT NOT NULL,        -- the SDK export object (or OTLP/JSON span), verbatim JSON
    created_at TEXT NOT NULL         -- when the outbox accepted it (UTC ISO-8601)
);
INSERT INTO records_new (seq, kind, trace_id, span_id, parent_id, type, name, started_at,
                         ended_at, error, body, created_at)
SELECT seq, kind, trace_id, span_id, parent_id, type, name, started_at, ended_at, error, body,
       created_at
FROM records ORDER BY seq;
-- the last seq handed out survives the rebuild (seq is never reused)
UPDATE sqlite_sequence
SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'records'), 0))
WHERE name = 'records_new';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'records_new', (SELECT seq FROM sqlite_sequence WHERE name = 'records')
WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'records_new')
  AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'records');
DROP TABLE records;
ALTER TABLE records_new RENAME TO records;

CREATE UNIQUE INDEX records_span_uq  ON records (span_id)  WHERE kind = 'span';
CREATE UNIQUE INDEX records_trace_uq ON records (trace_id) WHERE kind = 'trace';
CREATE UNIQUE INDEX records_otlp_uq  ON records (trace_id, span_id) WHERE kind = 'otlp';
CREATE INDEX records_trace_id ON records (trace_id);

CREATE TRIGGER records_deleted_count AFTER DELETE ON records
BEGIN
    UPDATE records_deleted SET max_seq = max(max_seq, OLD.seq), rows = rows + 1 WHERE id = 1;
END;

-- The views, as 001, 002 and 003 made them; span_durations also lists OTLP spans.
CREATE VIEW pending AS
SELECT d.name AS destination, r.seq, r.kind, r.trace_id, r.span_id, r.type, r.name,
       r.ended_at,
       CAST((julianday('now') - julianday(r.created_at)) * 86400 AS INTEGER) AS age
FROM destinations d
JOIN records r ON r.seq > d.cursor
WHERE NOT EXISTS (SELECT 1 FROM dead_letters x WHERE x.destination = d.name AND x.seq = r.seq)
UNION ALL
SELECT d.name, r.seq, r.kind, r.trace_id, r.span_id, r.type, r.name, r.ended_at,
       CAST((julianday('now') - julianday(r.created_at)) * 86400 AS INTEGER)
FROM requeued q
JOIN destinations d ON d.name = q.destination
JOIN records r ON r.seq = q.seq
WHERE q.seq <= d.cursor;

CREATE VIEW outbox_status AS
SELECT d.name AS destination,
       d.type,
       max(0, coalesce((SELECT max(seq) FROM records), 0)
                  - max(d.cursor, (SELECT max_seq FROM records_deleted WHERE id = 1)))
       + CASE WHEN d.cursor < (SELECT max_seq FROM records_deleted WHERE id = 1)
              THEN (SELECT count(*) FROM records r
                    WHERE r.seq > d.cursor
                      AND r.seq <= (SELECT max_seq FROM records_deleted WHERE id = 1))
              ELSE 0 END
       - (SELECT count(*) FROM dead_letters x WHERE x.destination = d.name AND x.seq > d.cursor)
       + (SELECT count(*) FROM requeued q JOIN records r ON r.seq = q.seq
          WHERE q.destination = d.name AND q.seq <= d.cursor) AS pending,
       (SELECT max(CAST((julianday('now') - julianday(a.created_at)) * 86400 AS INTEGER))
        FROM (SELECT created_at FROM (SELECT r.created_at FROM records r
                                      WHERE r.seq > d.cursor
                                        AND NOT EXISTS (SELECT 1 FROM dead_letters x
                                                        WHERE x.destination = d.name
                                                          AND x.seq = r.seq)
                                      ORDER BY r.seq LIMIT 1)
              UNION ALL
              SELECT r.created_at FROM requeued q JOIN records r ON r.seq = q.seq
              WHERE q.destination = d.name AND q.seq <= d.cursor) a) AS oldest_pending_age,
       d.delivered,
       (SELECT count(*) FROM dead_letters x WHERE x.destination = d.name) AS dead,
       d.attempts,
       d.last_error,
       d.last_status,
       CASE WHEN d.auth_failed THEN 'AUTH FAILED: fix the key, then wait or run ship' END AS alert,
       d.next_attempt_at,
       d.last_success_at,
       d.lease_owner,
       d.lease_until
FROM destinations d;

CREATE VIEW pending_by_destination AS
SELECT destination, count(*) AS pending, max(age) AS oldest_age, min(seq) AS first_seq,
       max(seq) AS last_seq
FROM pending
GROUP BY destination;

CREATE VIEW dead_letter_reasons AS
SELECT x.destination, x.seq, x.http_status, x.reason, x.time, r.kind, r.trace_id, r.span_id,
       r.type, r.name
FROM dead_letters x
LEFT JOIN records r ON r.seq = x.seq;

CREATE VIEW token_usage_daily AS
SELECT substr(coalesce(ended_at, created_at), 1, 10) AS day,
       coalesce(body ->> '$.span_data.model', '(unknown)') AS model,
       count(*) AS spans,
       sum(coalesce(body ->> '$.span_data.usage.input_tokens', 0)) AS input_tokens,
       sum(coalesce(body ->> '$.span_data.usage.output_tokens', 0)) AS output_tokens
FROM records
WHERE kind = 'span' AND type IN ('generation', 'response')
GROUP BY day, model;

CREATE VIEW span_durations AS
SELECT trace_id, span_id, parent_id, type, name,
       round((julianday(ended_at) - julianday(started_at)) * 86400000.0, 1) AS duration_ms,
       error IS NOT NULL AS failed
FROM records
WHERE kind IN ('span', 'otlp');
