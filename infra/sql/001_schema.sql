-- ivs-syncd schema. Safe on a fresh database and on one that already has a
-- `shows` table (a Supabase project): it only creates what is missing.

CREATE TABLE IF NOT EXISTS public.shows (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    title text,
    status text NOT NULL DEFAULT 'scheduled',
    created_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE public.shows ADD COLUMN IF NOT EXISTS status text DEFAULT 'scheduled';
ALTER TABLE public.shows ADD COLUMN IF NOT EXISTS ivs_channel_arn text;
ALTER TABLE public.shows ADD COLUMN IF NOT EXISTS stream_status text DEFAULT 'offline';
ALTER TABLE public.shows ADD COLUMN IF NOT EXISTS is_streaming boolean DEFAULT false;
ALTER TABLE public.shows ADD COLUMN IF NOT EXISTS went_live_at timestamptz;
ALTER TABLE public.shows ADD COLUMN IF NOT EXISTS ended_at timestamptz;
ALTER TABLE public.shows ADD COLUMN IF NOT EXISTS actual_start timestamptz;
ALTER TABLE public.shows ADD COLUMN IF NOT EXISTS actual_end timestamptz;
ALTER TABLE public.shows ADD COLUMN IF NOT EXISTS viewer_count integer DEFAULT 0;
ALTER TABLE public.shows ADD COLUMN IF NOT EXISTS ivs_stream_id text;
ALTER TABLE public.shows ADD COLUMN IF NOT EXISTS stream_state_at timestamptz;
ALTER TABLE public.shows ADD COLUMN IF NOT EXISTS stream_health text;
ALTER TABLE public.shows ADD COLUMN IF NOT EXISTS stream_synced_at timestamptz;

CREATE INDEX IF NOT EXISTS shows_ivs_channel_arn_idx ON public.shows (ivs_channel_arn);

CREATE SCHEMA IF NOT EXISTS ivs_sync;

-- Every EventBridge event once, keyed by its id (SPEC 2 rule 9).
CREATE TABLE IF NOT EXISTS ivs_sync.events (
    event_id text PRIMARY KEY,
    sns_message_id text,
    via text NOT NULL,
    channel_arn text,
    account text,
    detail_type text,
    event_name text,
    stream_id text,
    event_time timestamptz,
    received_at timestamptz NOT NULL DEFAULT now(),
    outcome text NOT NULL,
    shows_changed integer NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_stream_end_idx
    ON ivs_sync.events (channel_arn, stream_id) WHERE event_name = 'Stream End';
CREATE INDEX IF NOT EXISTS events_received_at_idx ON ivs_sync.events (received_at);

-- Channels whose state must be asked of IVS now (Stream Failure, Takeover, Session Ended).
CREATE TABLE IF NOT EXISTS ivs_sync.pending_checks (
    channel_arn text PRIMARY KEY,
    reason text,
    requested_at timestamptz NOT NULL DEFAULT now()
);

-- Shows whose stream ended while END_GRACE_SECONDS holds their status.
CREATE TABLE IF NOT EXISTS ivs_sync.pending_ends (
    show_id uuid PRIMARY KEY,
    channel_arn text NOT NULL,
    due_at timestamptz NOT NULL,
    ended_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_ends_due_idx ON ivs_sync.pending_ends (due_at);
