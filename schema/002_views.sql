-- 002_views.sql — views for the sqlite3 shell (README "Recipes").

-- Pending records per destination, with the oldest age in seconds.
CREATE VIEW pending_by_destination AS
SELECT destination, count(*) AS pending, max(age) AS oldest_age, min(seq) AS first_seq,
       max(seq) AS last_seq
FROM pending
GROUP BY destination;

-- Dead letters with their reason, joined to what the record was.
CREATE VIEW dead_letter_reasons AS
SELECT x.destination, x.seq, x.http_status, x.reason, x.time, r.kind, r.trace_id, r.span_id,
       r.type, r.name
FROM dead_letters x
LEFT JOIN records r ON r.seq = x.seq;

-- Token usage per model per day, from generation and response spans.
CREATE VIEW token_usage_daily AS
SELECT substr(coalesce(ended_at, created_at), 1, 10) AS day,
       coalesce(body ->> '$.span_data.model', '(unknown)') AS model,
       count(*) AS spans,
       sum(coalesce(body ->> '$.span_data.usage.input_tokens', 0)) AS input_tokens,
       sum(coalesce(body ->> '$.span_data.usage.output_tokens', 0)) AS output_tokens
FROM records
WHERE kind = 'span' AND type IN ('generation', 'response')
GROUP BY day, model;

-- Every span with its duration in milliseconds (ORDER BY duration_ms DESC
-- for the slowest spans of a trace).
CREATE VIEW span_durations AS
SELECT trace_id, span_id, parent_id, type, name,
       round((julianday(ended_at) - julianday(started_at)) * 86400000.0, 1) AS duration_ms,
       error IS NOT NULL AS failed
FROM records
WHERE kind = 'span';
