-- repeatable: re-applied whenever this file changes.
-- Group commit: several EventBridge events in one statement and one transaction
-- (src/ingest.c sends every event this way, alone or with those that arrived
-- together). Each event goes through the steps of ivs_sync.ingest_event()
-- (002_state.sql), inlined here: the same state rules (ivs_sync._apply), the
-- same dedup, the same outcomes as one event per transaction, without a
-- function call per event and with the JSON unpacked once (jsonb_to_recordset).
-- ingest_event stays the reference: tests/bench/ingest_batch_check.py applies
-- random sequences both ways and compares every outcome and every row.
-- Keep the two in step.
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
    n_applied integer;
    n_stale integer;
    v_outcome text;
    v_channel text;
    v_locked text; -- the channel whose lock this transaction already holds
BEGIN
    FOR e IN SELECT r.*
             FROM ROWS FROM (jsonb_to_recordset(p_events)
                             AS (id text, mid text, via text, c text, acct text, dt text,
                                 en text, k text, s text, t timestamptz, h text))
                  WITH ORDINALITY AS r(id, mid, via, c, acct, dt, en, k, s, t, h, i)
             ORDER BY r.c COLLATE "C", r.i
    LOOP
        n_applied := 0;
        n_stale := 0;
        v_channel := nullif(e.c, '');
        IF v_channel IS NOT NULL AND v_channel IS DISTINCT FROM v_locked THEN
            PERFORM ivs_sync._lock_channel(v_channel);
            v_locked := v_channel;
        END IF;
        IF EXISTS (SELECT 1 FROM ivs_sync.events ev WHERE ev.event_id = e.id) THEN
            outs[e.i] := 'duplicate';
            CONTINUE;
        END IF;
        IF e.k IN ('start', 'end') AND v_channel IS NOT NULL THEN
            SELECT count(*) FILTER (WHERE a.result = 'applied'),
                   count(*) FILTER (WHERE a.result = 'stale')
            INTO n_applied, n_stale
            FROM ivs_sync._apply(v_channel, e.k, e.s, e.t, e.t, -1, NULL, p_grace) a;
            v_outcome := CASE WHEN n_applied > 0 THEN 'applied'
                              WHEN n_stale > 0 THEN 'stale' ELSE 'ignored' END;
            IF v_outcome = 'ignored' AND e.k = 'start' AND EXISTS (
                SELECT 1 FROM ivs_sync.events ev WHERE ev.channel_arn = v_channel
                  AND ev.stream_id = e.s AND ev.event_name = 'Stream End') THEN
                v_outcome := 'stale'; -- a stream that has ended stays ended
            END IF;
        ELSIF e.k = 'health' AND v_channel IS NOT NULL THEN
            UPDATE public.shows s SET stream_health = e.h
            WHERE s.ivs_channel_arn = v_channel AND s.is_streaming
              AND s.stream_health IS DISTINCT FROM e.h;
            GET DIAGNOSTICS n_applied = ROW_COUNT;
            v_outcome := CASE WHEN n_applied > 0 THEN 'applied' ELSE 'ignored' END;
        ELSIF e.k = 'check' AND v_channel IS NOT NULL THEN
            INSERT INTO ivs_sync.pending_checks (channel_arn, reason)
            SELECT v_channel, e.en
            WHERE EXISTS (SELECT 1 FROM public.shows s WHERE s.ivs_channel_arn = v_channel)
            ON CONFLICT (channel_arn) DO UPDATE SET reason = EXCLUDED.reason, requested_at = now();
            GET DIAGNOSTICS n_applied = ROW_COUNT;
            v_outcome := CASE WHEN n_applied > 0 THEN 'check' ELSE 'ignored' END;
            n_applied := 0;
        ELSE
            v_outcome := 'ignored';
        END IF;
        INSERT INTO ivs_sync.events (event_id, sns_message_id, via, channel_arn, account,
                                     detail_type, event_name, stream_id, event_time, outcome,
                                     shows_changed)
        VALUES (e.id, e.mid, e.via, v_channel, e.acct, e.dt, e.en, e.s, e.t, v_outcome,
                n_applied)
        ON CONFLICT (event_id) DO NOTHING;
        IF NOT FOUND THEN
            -- only possible without a channel lock, i.e. for an event that changed nothing
            IF v_outcome IN ('applied', 'check') THEN
                RAISE EXCEPTION 'ivs_sync: event % was recorded concurrently', e.id
                    USING ERRCODE = 'serialization_failure';
            END IF;
            v_outcome := 'duplicate';
        END IF;
        outs[e.i] := v_outcome;
    END LOOP;
    FOR i IN 1 .. n LOOP
        ord := i;
        outcome := outs[i];
        RETURN NEXT;
    END LOOP;
END;
$$;
