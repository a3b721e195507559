-- repeatable: re-applied whenever this file changes.
-- Live push (Server-Sent Events): viewer counts.
--
-- SPEC 1.5's ivs_sync_show_changed stays state-only. A viewer count that
-- reconciliation observes (rule 6: written only when it differs, rule 7) is
-- announced on a second channel, ivs_sync_show_viewers, with the row's state,
-- so a listener can tell a count-only change from one that a state
-- notification follows in the same transaction. An UPDATE that writes the same
-- count notifies nothing; one pass updates a show at most once, so at most one
-- notification per pass and show.
CREATE OR REPLACE FUNCTION ivs_sync._notify_viewers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ivs_sync_show_viewers', json_build_object(
        'showId', NEW.id, 'viewerCount', NEW.viewer_count, 'streamStatus', NEW.stream_status,
        'isStreaming', NEW.is_streaming, 'status', NEW.status, 'streamId', NEW.ivs_stream_id,
        'at', NEW.stream_state_at)::text);
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS ivs_sync_viewers_notify ON public.shows;
CREATE TRIGGER ivs_sync_viewers_notify
    AFTER UPDATE OF viewer_count ON public.shows
    FOR EACH ROW
    WHEN (OLD.viewer_count IS DISTINCT FROM NEW.viewer_count)
    EXECUTE FUNCTION ivs_sync._notify_viewers();
