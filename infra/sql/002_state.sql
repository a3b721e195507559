-- repeatable: re-applied whenever this file changes.
-- The stream state rules (SPEC section 2), in one place. Every input - an
-- event or an observation from IVS - goes through ivs_sync._apply(), under a
-- per-channel advisory lock held to the end of the transaction, so inputs for
-- one channel never interleave, on one replica or across several.

-- plpgsql (not SQL-language) helpers: their plans are cached per connection.
--
-- Plans that cannot go bad as tables grow: each connection's plpgsql plans
-- turn generic after five executions and are then kept for the connection's
-- life. If that happens while ivs_sync.events is small (a fresh install, after
-- a purge), a sequential scan looks cheapest and stays the plan while the table
-- grows by thousands of rows a second. Every per-event statement here is a
-- keyed lookup (primary key or an index on the channel), so the entry points
-- run with enable_seqscan off: the index plan is chosen whatever the
-- statistics said (a scan is still possible where no index exists).
CREATE OR REPLACE FUNCTION ivs_sync._notify(p_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ivs_sync_show_changed', json_build_object(
        'showId', s.id, 'channelArn', s.ivs_channel_arn, 'streamStatus', s.stream_status,
        'isStreaming', s.is_streaming, 'status', s.status, 'streamId', s.ivs_stream_id,
        'at', s.stream_state_at)::text)
    FROM public.shows s WHERE s.id = p_id;
END;
$$;

CREATE OR REPLACE FUNCTION ivs_sync._lock_channel(p_channel text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('ivs_sync:' || p_channel, 0));
END;
$$;

-- p_kind: 'start' | 'end' (events), 'live' | 'offline' (observations).
-- p_t: the input's source time; p_start: the stream's start time (live inputs).
-- p_viewers: -1 = unknown. p_grace: END_GRACE_SECONDS.
-- One row per show of the channel that is active (status scheduled/live or
-- still streaming); result is 'applied', 'stale' or 'unchanged'.
CREATE OR REPLACE FUNCTION ivs_sync._apply(
    p_channel text, p_kind text, p_stream text, p_t timestamptz, p_start timestamptz,
    p_viewers integer, p_health text, p_grace integer)
RETURNS TABLE (show_id uuid, previous_status text, new_status text, changed boolean,
               viewer_count integer, result text)
LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    r record;
    live_in boolean := p_kind IN ('start', 'live');
    ended boolean := false;
    is_live boolean;
    v_start timestamptz := coalesce(p_start, p_t);
    v_viewers integer;
BEGIN
    PERFORM ivs_sync._lock_channel(p_channel);
    IF live_in AND p_stream IS NOT NULL THEN
        SELECT EXISTS (SELECT 1 FROM ivs_sync.events e
                       WHERE e.channel_arn = p_channel AND e.stream_id = p_stream
                         AND e.event_name = 'Stream End') INTO ended;
    END IF;
    FOR r IN SELECT s.id, s.status, s.stream_status, coalesce(s.is_streaming, false) AS streaming,
                    s.ivs_stream_id, s.stream_state_at, s.viewer_count, s.stream_health
             FROM public.shows s
             WHERE s.ivs_channel_arn = p_channel
               AND (s.status IN ('scheduled', 'live') OR s.is_streaming)
             ORDER BY s.id
    LOOP
        show_id := r.id;
        previous_status := r.stream_status;
        new_status := coalesce(r.stream_status, 'offline');
        changed := false;
        viewer_count := r.viewer_count;
        result := 'unchanged';
        is_live := r.streaming;
        IF live_in THEN
            IF r.status NOT IN ('scheduled', 'live') THEN
                NULL; -- rule 1: a live input only targets scheduled/live shows
            ELSIF ended
               OR (r.stream_state_at IS NOT NULL AND p_t < r.stream_state_at)
               OR (p_t = r.stream_state_at AND NOT is_live AND r.ivs_stream_id = p_stream) THEN
                result := 'stale'; -- rule 2
            ELSIF NOT is_live THEN
                -- rule 3: go live
                v_viewers := CASE WHEN p_viewers >= 0 THEN p_viewers ELSE r.viewer_count END;
                UPDATE public.shows s SET
                    stream_status = 'live', is_streaming = true, ivs_stream_id = p_stream,
                    went_live_at = v_start, actual_start = coalesce(s.actual_start, v_start),
                    status = CASE WHEN s.status = 'scheduled' THEN 'live' ELSE s.status END,
                    stream_state_at = p_t, stream_synced_at = now(), viewer_count = v_viewers,
                    stream_health = coalesce(p_health, s.stream_health)
                WHERE s.id = r.id;
                DELETE FROM ivs_sync.pending_ends pe WHERE pe.show_id = r.id;
                PERFORM ivs_sync._notify(r.id);
                new_status := 'live'; changed := true; viewer_count := v_viewers;
                result := 'applied';
            ELSIF p_stream IS NOT NULL AND r.ivs_stream_id IS DISTINCT FROM p_stream THEN
                -- rule 4: new stream while live
                v_viewers := CASE WHEN p_viewers >= 0 THEN p_viewers ELSE r.viewer_count END;
                UPDATE public.shows s SET
                    ivs_stream_id = p_stream, went_live_at = v_start, stream_state_at = p_t,
                    stream_synced_at = now(), viewer_count = v_viewers,
                    stream_health = coalesce(p_health, s.stream_health),
                    status = CASE WHEN s.status = 'scheduled' THEN 'live' ELSE s.status END
                WHERE s.id = r.id;
                PERFORM ivs_sync._notify(r.id);
                viewer_count := v_viewers;
                result := 'applied';
            ELSIF (p_viewers >= 0 AND p_viewers IS DISTINCT FROM r.viewer_count)
               OR (p_health IS NOT NULL AND p_health IS DISTINCT FROM r.stream_health) THEN
                -- rule 6: same stream, new viewer count / health; rule 7: only if it differs
                v_viewers := CASE WHEN p_viewers >= 0 THEN p_viewers ELSE r.viewer_count END;
                UPDATE public.shows s SET viewer_count = v_viewers,
                    stream_health = coalesce(p_health, s.stream_health), stream_synced_at = now()
                WHERE s.id = r.id;
                viewer_count := v_viewers;
            END IF;
        ELSE
            IF NOT (is_live OR r.status = 'live') THEN
                NULL; -- rule 1: an offline input only targets streaming/live shows
            ELSIF r.stream_state_at IS NOT NULL AND p_t < r.stream_state_at THEN
                result := 'stale';
            ELSIF p_kind = 'end' AND r.ivs_stream_id IS NOT NULL
                  AND r.ivs_stream_id IS DISTINCT FROM p_stream THEN
                result := 'stale'; -- an End for another stream
            ELSIF is_live THEN
                -- rule 5: go offline; with a grace period the status waits
                UPDATE public.shows s SET
                    stream_status = 'offline', is_streaming = false, ended_at = p_t,
                    actual_end = p_t, stream_state_at = p_t, stream_synced_at = now(),
                    status = CASE WHEN s.status = 'live' AND p_grace <= 0 THEN 'ended'
                                  ELSE s.status END
                WHERE s.id = r.id;
                IF p_grace > 0 AND r.status = 'live' THEN
                    INSERT INTO ivs_sync.pending_ends (show_id, channel_arn, due_at, ended_at)
                    VALUES (r.id, p_channel, now() + make_interval(secs => p_grace), p_t)
                    ON CONFLICT ON CONSTRAINT pending_ends_pkey DO UPDATE
                        SET due_at = EXCLUDED.due_at, ended_at = EXCLUDED.ended_at;
                END IF;
                PERFORM ivs_sync._notify(r.id);
                new_status := 'offline'; changed := true;
                result := 'applied';
            ELSIF NOT EXISTS (SELECT 1 FROM ivs_sync.pending_ends pe WHERE pe.show_id = r.id) THEN
                -- status 'live' but not streaming (drift): end the show
                IF p_grace > 0 THEN
                    INSERT INTO ivs_sync.pending_ends (show_id, channel_arn, due_at, ended_at)
                    VALUES (r.id, p_channel, now() + make_interval(secs => p_grace), p_t);
                ELSE
                    UPDATE public.shows s SET status = 'ended', stream_status = 'offline',
                        ended_at = coalesce(s.ended_at, p_t), actual_end = coalesce(s.actual_end, p_t),
                        stream_state_at = p_t, stream_synced_at = now()
                    WHERE s.id = r.id;
                    PERFORM ivs_sync._notify(r.id);
                    new_status := 'offline';
                    changed := previous_status IS DISTINCT FROM 'offline';
                    result := 'applied';
                END IF;
            END IF;
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;

-- One EventBridge event: record it once (rule 9) and apply it, in one transaction.
-- p_kind: start | end | health | check | other. Returns the outcome:
-- applied | duplicate | stale | ignored | check.
--
-- One write per event row: the channel's lock is taken first, so a second
-- delivery of the same event (same id, same channel) waits for the first one's
-- commit and then finds its row; the row is inserted once, with its final
-- outcome. Account-wide events (no channel) change no state: for them the
-- insert's conflict alone decides 'duplicate'.
CREATE OR REPLACE FUNCTION ivs_sync.ingest_event(
    p_event_id text, p_sns_message_id text, p_via text, p_channel text, p_account text,
    p_detail_type text, p_event_name text, p_kind text, p_stream text, p_time timestamptz,
    p_health text, p_grace integer)
RETURNS text
LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    n_applied integer := 0;
    n_stale integer := 0;
    v_outcome text;
    v_channel text := nullif(p_channel, '');
BEGIN
    IF v_channel IS NOT NULL THEN
        PERFORM ivs_sync._lock_channel(v_channel);
    END IF;
    IF EXISTS (SELECT 1 FROM ivs_sync.events e WHERE e.event_id = p_event_id) THEN
        RETURN 'duplicate';
    END IF;
    IF p_kind IN ('start', 'end') AND v_channel IS NOT NULL THEN
        SELECT count(*) FILTER (WHERE a.result = 'applied'),
               count(*) FILTER (WHERE a.result = 'stale')
        INTO n_applied, n_stale
        FROM ivs_sync._apply(v_channel, p_kind, p_stream, p_time, p_time, -1, NULL, p_grace) a;
        v_outcome := CASE WHEN n_applied > 0 THEN 'applied'
                          WHEN n_stale > 0 THEN 'stale' ELSE 'ignored' END;
        IF v_outcome = 'ignored' AND p_kind = 'start' AND EXISTS (
            SELECT 1 FROM ivs_sync.events e WHERE e.channel_arn = v_channel
              AND e.stream_id = p_stream AND e.event_name = 'Stream End') THEN
            v_outcome := 'stale'; -- a stream that has ended stays ended
        END IF;
    ELSIF p_kind = 'health' AND v_channel IS NOT NULL THEN
        UPDATE public.shows s SET stream_health = p_health
        WHERE s.ivs_channel_arn = v_channel AND s.is_streaming
          AND s.stream_health IS DISTINCT FROM p_health;
        GET DIAGNOSTICS n_applied = ROW_COUNT;
        v_outcome := CASE WHEN n_applied > 0 THEN 'applied' ELSE 'ignored' END;
    ELSIF p_kind = 'check' AND v_channel IS NOT NULL THEN
        INSERT INTO ivs_sync.pending_checks (channel_arn, reason)
        SELECT v_channel, p_event_name
        WHERE EXISTS (SELECT 1 FROM public.shows s WHERE s.ivs_channel_arn = v_channel)
        ON CONFLICT (channel_arn) DO UPDATE SET reason = EXCLUDED.reason, requested_at = now();
        GET DIAGNOSTICS n_applied = ROW_COUNT;
        v_outcome := CASE WHEN n_applied > 0 THEN 'check' ELSE 'ignored' END;
        n_applied := 0;
    ELSE
        v_outcome := 'ignored';
    END IF;
    INSERT INTO ivs_sync.events (event_id, sns_message_id, via, channel_arn, account, detail_type,
                                 event_name, stream_id, event_time, outcome, shows_changed)
    VALUES (p_event_id, p_sns_message_id, p_via, v_channel, p_account, p_detail_type,
            p_event_name, p_stream, p_time, v_outcome, n_applied)
    ON CONFLICT (event_id) DO NOTHING;
    IF NOT FOUND THEN
        -- only possible without a channel lock, i.e. for an event that changed nothing
        IF v_outcome IN ('applied', 'check') THEN
            RAISE EXCEPTION 'ivs_sync: event % was recorded concurrently', p_event_id
                USING ERRCODE = 'serialization_failure';
        END IF;
        RETURN 'duplicate';
    END IF;
    RETURN v_outcome;
END;
$$;

-- A batch of observations from IVS: a JSON array of
-- {"channel","live","stream_id","start_time","viewers","health","t"}.
CREATE OR REPLACE FUNCTION ivs_sync.apply_observations(p_obs jsonb, p_grace integer)
RETURNS TABLE (channel_arn text, show_id uuid, previous_status text, new_status text,
               changed boolean, viewer_count integer, result text)
LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    o record;
BEGIN
    -- channels in "C" order: the per-channel locks of every multi-channel
    -- statement (passes, batched events) are taken in one order: no deadlock
    FOR o IN SELECT * FROM jsonb_to_recordset(p_obs)
             AS x(channel text, live boolean, stream_id text, start_time timestamptz,
                  viewers integer, health text, t timestamptz)
             ORDER BY x.channel COLLATE "C"
    LOOP
        RETURN QUERY SELECT o.channel, a.* FROM ivs_sync._apply(
            o.channel, CASE WHEN o.live THEN 'live' ELSE 'offline' END, o.stream_id, o.t,
            o.start_time, coalesce(o.viewers, -1), o.health, p_grace) a;
        DELETE FROM ivs_sync.pending_checks pc WHERE pc.channel_arn = o.channel
            AND pc.requested_at <= o.t;
    END LOOP;
END;
$$;

-- Shows whose grace period is over become 'ended' (unless live again).
CREATE OR REPLACE FUNCTION ivs_sync.expire_grace(p_limit integer DEFAULT 100)
RETURNS integer
LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    p record;
    n integer := 0;
    k integer;
BEGIN
    FOR p IN SELECT pe.show_id, pe.channel_arn FROM ivs_sync.pending_ends pe
             WHERE pe.due_at <= now() ORDER BY pe.due_at LIMIT p_limit
    LOOP
        PERFORM ivs_sync._lock_channel(p.channel_arn);
        DELETE FROM ivs_sync.pending_ends pe WHERE pe.show_id = p.show_id AND pe.due_at <= now();
        IF FOUND THEN
            UPDATE public.shows s SET status = 'ended'
            WHERE s.id = p.show_id AND s.status = 'live' AND NOT coalesce(s.is_streaming, false);
            GET DIAGNOSTICS k = ROW_COUNT;
            IF k > 0 THEN
                PERFORM ivs_sync._notify(p.show_id);
                n := n + 1;
            END IF;
        END IF;
    END LOOP;
    RETURN n;
END;
$$;

-- Purge events older than the retention, in small batches; returns rows deleted.
CREATE OR REPLACE FUNCTION ivs_sync.purge_events(p_retention_seconds integer, p_batch integer)
RETURNS integer
LANGUAGE sql AS $$
    WITH d AS (
        DELETE FROM ivs_sync.events WHERE event_id IN (
            SELECT event_id FROM ivs_sync.events
            WHERE received_at < now() - make_interval(secs => p_retention_seconds)
            LIMIT p_batch)
        RETURNING 1)
    SELECT count(*)::integer FROM d;
$$;
