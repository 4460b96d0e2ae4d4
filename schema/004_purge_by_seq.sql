-- 004_purge_by_seq.sql — no index on created_at.
--
-- It was there for purge (retention): "delivered and older than the
-- window". Records are appended in time order, so purge now walks seq from
-- the oldest record and stops at the first one inside the window
-- (store.c), which reads only what it deletes. The index cost every record
-- about 40 bytes on disk and one more B-tree to update on every insert.
DROP INDEX IF EXISTS records_created_at;
