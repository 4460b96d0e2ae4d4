-- 001_init.sql — the outbox file. Names here are a contract (DESIGN.md):
-- operators read these tables and views with the sqlite3 shell.

-- The append-only log: one row per completed trace or span. seq is
-- AUTOINCREMENT so it is never reused and cursors stay valid after deletes.
CREATE TABLE records (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('trace', 'span')),
    trace_id   TEXT NOT NULL,
    span_id    TEXT,                 -- NULL for a trace
    parent_id  TEXT,                 -- NULL when the parent is the trace
    type       TEXT,                 -- span_data.type; 'trace' for a trace
    name       TEXT,                 -- workflow_name, agent/tool name, model, …
    started_at TEXT,                 -- ISO-8601 as the SDK wrote it
    ended_at   TEXT,
    error      TEXT,                 -- the span's error object (JSON) or NULL
    body       TEXT NOT NULL,        -- the SDK export object, verbatim JSON
    created_at TEXT NOT NULL         -- when the outbox accepted it (UTC ISO-8601)
);
-- Idempotency: one row per span id, one per trace id.
CREATE UNIQUE INDEX records_span_uq  ON records (span_id)  WHERE kind = 'span';
CREATE UNIQUE INDEX records_trace_uq ON records (trace_id) WHERE kind = 'trace';
CREATE INDEX records_trace_id ON records (trace_id);
CREATE INDEX records_created_at ON records (created_at);

-- One row per destination the shipper has seen. No credentials, ever.
CREATE TABLE destinations (
    name            TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    cursor          INTEGER NOT NULL DEFAULT 0,  -- last delivered seq
    attempts        INTEGER NOT NULL DEFAULT 0,  -- failed attempts in a row
    next_attempt_at TEXT,                        -- UTC ISO-8601; NULL = now
    last_error      TEXT,
    last_status     INTEGER,                     -- last HTTP status (0: none)
    auth_failed     INTEGER NOT NULL DEFAULT 0,  -- 1 after 401/403 until a success
    last_success_at TEXT,
    delivered       INTEGER NOT NULL DEFAULT 0,  -- records delivered, all time
    resent          INTEGER NOT NULL DEFAULT 0,  -- records sent again after an unknown outcome
    lease_owner     TEXT,
    lease_until     TEXT,
    created_at      TEXT NOT NULL
);

-- Records a destination refused for good (or that expired). Kept until a
-- requeue; nothing leaves the line silently.
CREATE TABLE dead_letters (
    destination TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    http_status INTEGER,
    time        TEXT NOT NULL,
    PRIMARY KEY (destination, seq)
);
CREATE INDEX dead_letters_seq ON dead_letters (seq);

-- Records put back in line below a destination's cursor (`tracebox requeue`).
CREATE TABLE requeued (
    destination TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    PRIMARY KEY (destination, seq)
);

-- Counters of records that never became rows (size cap, async drops).
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL DEFAULT 0
);
INSERT INTO counters (name, value) VALUES ('refused_full', 0), ('dropped_queue', 0),
    ('purged', 0), ('evicted_delivered', 0), ('rejected_unnamed', 0);

-- One row per (destination, record) not yet delivered and not dead.
-- age = seconds since the outbox accepted the record.
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

-- One row per destination: what is waiting, what was delivered, what died.
CREATE VIEW outbox_status AS
SELECT d.name AS destination,
       d.type,
       (SELECT count(*) FROM pending p WHERE p.destination = d.name) AS pending,
       (SELECT max(p.age) FROM pending p WHERE p.destination = d.name) AS oldest_pending_age,
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
