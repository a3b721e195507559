-- repeatable: re-applied whenever this file changes.
-- Group commit: several EventBridge events in one statement and one transaction
-- (src/ingest.c sends the events that arrive together). Each event goes through
-- ivs_sync.ingest_event() (002_state.sql), so the state rules, the dedup and
-- the outcomes are exactly those of one event per transaction.
--
-- p_events: a JSON array, one object per event:
--   {"id", "mid" (SNS MessageId or null), "via", "c" (channel ARN), "acct",
--    "dt" (detail-type), "en" (event_name or null), "k" (start|end|health|check|other),
--    "s" (stream_id or null), "t" (time), "h" (health or null)}
-- Returns one row per event, (ord, outcome), ord = 1-based position in p_events,
-- in input order.
--
-- Order: the events of one channel are applied in input order (so a duplicate
-- within the batch is answered 'duplicate', and Start/End keep their order).
-- Events of different channels are independent, and are applied grouped by
-- channel in a fixed order (channel ARN, "C" collation): every batch then takes
-- the per-channel advisory locks in the same order, so two batches running at
-- once cannot deadlock on them. Any error rolls back the whole batch (the
-- caller answers 503 or retries the events one by one).
CREATE OR REPLACE FUNCTION ivs_sync.ingest_events(p_events jsonb, p_grace integer)
RETURNS TABLE (ord integer, outcome text)
LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    e record;
    outs text[] := '{}';
    n integer := jsonb_array_length(p_events);
BEGIN
    FOR e IN SELECT x.i::integer AS i, x.v
             FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(v, i)
             ORDER BY x.v->>'c' COLLATE "C", x.i
    LOOP
        outs[e.i] := ivs_sync.ingest_event(
            e.v->>'id', e.v->>'mid', e.v->>'via', e.v->>'c', e.v->>'acct', e.v->>'dt',
            e.v->>'en', e.v->>'k', e.v->>'s', (e.v->>'t')::timestamptz, e.v->>'h', p_grace);
    END LOOP;
    FOR i IN 1 .. n LOOP
        ord := i;
        outcome := outs[i];
        RETURN NEXT;
    END LOOP;
END;
$$;
