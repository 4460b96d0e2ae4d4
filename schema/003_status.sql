-- 003_status.sql — outbox_status from arithmetic instead of counting the
-- pending view, so `tracebox status` (run every minute by monitoring) costs
-- the same at a million pending records as at ten.
--
-- seq only grows, and the outbox's writer leaves no hole in it (a duplicate
-- put that INSERT OR IGNORE skipped gives its seq back: outbox_writer.c).
-- A record leaves only by a delete — purge and eviction, which delete
-- nothing above any destination's cursor, or a delete made by hand — and
-- records_deleted keeps the highest seq ever deleted and how many rows
-- were. Every record above max_seq is still in `records`, so for a
-- destination whose cursor is at or above it the records after its cursor
-- are exactly max(seq) - cursor; a cursor below it (a new destination
-- backfilling what is retained, or after a delete by hand) counts the part
-- below max_seq row by row, as before. The number of records is the last
-- seq handed out minus the rows deleted.
--
-- Written so that it may run again on a file that has it (IF NOT EXISTS).

CREATE TABLE IF NOT EXISTS records_deleted (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    max_seq INTEGER NOT NULL,  -- every record with a greater seq is still in records
    rows    INTEGER NOT NULL   -- records deleted, all time (seqs given to no record count too)
);

-- A file made before this migration: its holes (deletes, and seqs an
-- ignored duplicate took) count as deleted. max_seq is the last seq handed
-- out when no record holds it (the table is empty, or an ignored duplicate
-- was the last write), else the highest seq missing below the highest one
-- present (one scan, once).
INSERT OR REPLACE INTO records_deleted (id, max_seq, rows)
SELECT 1,
       CASE WHEN coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'records'), 0)
                 > coalesce((SELECT max(seq) FROM records), 0)
            THEN (SELECT seq FROM sqlite_sequence WHERE name = 'records')
            WHEN (SELECT max(seq) FROM records) IS NULL THEN 0
            ELSE max((SELECT min(seq) - 1 FROM records),
                     coalesce((SELECT max(r.seq - 1) FROM records r
                               WHERE r.seq > (SELECT min(seq) FROM records)
                                 AND NOT EXISTS (SELECT 1 FROM records p
                                                 WHERE p.seq = r.seq - 1)), 0))
       END,
       coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'records'), 0)
           - (SELECT count(*) FROM records);

CREATE TRIGGER IF NOT EXISTS records_deleted_count AFTER DELETE ON records
BEGIN
    UPDATE records_deleted SET max_seq = max(max_seq, OLD.seq), rows = rows + 1 WHERE id = 1;
END;

-- Same columns and figures as 001's view. pending: the records after the
-- cursor (arithmetic above the floor, counted below it), minus the dead
-- letters after the cursor, plus the requeued records below it.
-- oldest_pending_age: the age of the first record in line (by seq) and of
-- any requeued one.
DROP VIEW IF EXISTS outbox_status;
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
