-- repeatable: re-applied whenever this file changes.
-- Leadership as a lease row (issue 14), instead of a session advisory lock.
--
-- A session advisory lock lives on a server connection. Behind a transaction
-- pooler (PgBouncer pool_mode=transaction, Supavisor on 6543) that connection
-- is lent to other clients: two replicas can both "hold" the lock (it stacks
-- on a shared backend), and it outlives the daemon that took it. A lease is a
-- row: every call below is one statement, one transaction, and keeps no state
-- on the connection, so it works the same direct or through any pooler.
--
-- The clock is the database's (clock_timestamp(), read after the row lock is
-- granted): replicas never compare their own clocks with each other's.
--
-- Use (the reconcile leader, src/):
--   - every tick: SELECT * FROM ivs_sync.lease_acquire(holder_id, LEADER_LEASE_ms).
--     held = true: this replica leads with `generation` until `expires_at`;
--     held = false: someone else leads (holder, generation, expires_at say who).
--     holder_id must be unique per process (host, pid, start time, random).
--   - a holder that has not renewed before its expiry stops running passes at
--     once (it measures that on its own monotonic clock from the moment it sent
--     the acquire, so it always stops early, never late).
--   - every write a pass makes runs ivs_sync.lease_check(generation) first, in
--     the same transaction: it raises SQLSTATE 'IVSL1' when that generation is
--     no longer the current, unexpired one (fencing: a leader that was paused
--     past its lease, by SIGSTOP or a frozen VM, cannot apply an old pass after
--     a new leader started). lease_check holds a share lock on the lease row to
--     the end of the write's transaction, so a takeover (which locks the row for
--     update) is ordered after any write that passed the check. Keep such a
--     transaction to one round trip (one statement, or one pipeline ending in
--     Sync) so that a stopped client never holds the share lock.
--   - on clean shutdown: SELECT ivs_sync.lease_release(holder_id), so another
--     replica takes over at once instead of after the expiry.
--
-- Generation: +1 whenever the lease changes hands or is taken after it
-- expired, even by the same holder (a holder whose lease expired has stopped
-- its passes; what it started under the old generation stays refused). A
-- renewal before expiry keeps the generation.
--
-- The migration lock: `migrate` cannot rely on a function of this file (it
-- runs before the file exists). It takes pg_advisory_xact_lock(8731203) as the
-- first statement of the transaction that applies the files: a transaction-
-- scoped lock is released at COMMIT/ROLLBACK, also behind a transaction pooler
-- (which keeps a server connection for the client for exactly one transaction).

CREATE TABLE IF NOT EXISTS ivs_sync.leader_lease (
    name text PRIMARY KEY,
    holder text,
    generation bigint NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL DEFAULT '-infinity'
);

INSERT INTO ivs_sync.leader_lease (name) VALUES ('reconcile') ON CONFLICT (name) DO NOTHING;

-- Pass requests (`reconcile --once` beside a running fleet, issue 17 item 13):
-- a row the leader takes at its next lease tick, runs a pass for, and answers
-- (result: the sync API JSON). The requester polls the row; no LISTEN/NOTIFY,
-- which a transaction pooler does not carry.
CREATE TABLE IF NOT EXISTS ivs_sync.pass_requests (
    id bigserial PRIMARY KEY,
    requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    taken_by text,
    taken_at timestamptz,
    done_at timestamptz,
    errors integer,
    error text,
    result jsonb
);

-- A serving role granted before this table existed (`migrate --grant-to`, 004)
-- gets the same rights on it now, so that an upgrade does not leave it
-- unready until the grant is run again.
DO $$
DECLARE
    g oid;
BEGIN
    FOR g IN SELECT DISTINCT a.grantee FROM pg_class c, aclexplode(c.relacl) a
             WHERE c.oid = 'ivs_sync.events'::regclass AND a.privilege_type = 'INSERT'
               AND a.grantee <> 0 AND a.grantee <> c.relowner LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ivs_sync.leader_lease TO %s',
                       g::regrole);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ivs_sync.pass_requests TO %s',
                       g::regrole);
        EXECUTE format('GRANT USAGE ON SEQUENCE ivs_sync.pass_requests_id_seq TO %s',
                       g::regrole);
    END LOOP;
END;
$$;

CREATE OR REPLACE FUNCTION ivs_sync.lease_acquire(p_holder text, p_ttl_ms integer,
                                                  p_name text DEFAULT 'reconcile')
RETURNS TABLE (held boolean, generation bigint, expires_at timestamptz, holder text)
LANGUAGE plpgsql AS $$
DECLARE
    l ivs_sync.leader_lease;
    t timestamptz;
BEGIN
    IF p_holder IS NULL OR p_holder = '' THEN
        RAISE EXCEPTION 'lease_acquire: empty holder' USING ERRCODE = '22023';
    END IF;
    IF p_ttl_ms IS NULL OR p_ttl_ms <= 0 THEN
        RAISE EXCEPTION 'lease_acquire: ttl must be > 0 ms, not %', p_ttl_ms
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO ivs_sync.leader_lease (name) VALUES (p_name) ON CONFLICT (name) DO NOTHING;
    SELECT * INTO l FROM ivs_sync.leader_lease x WHERE x.name = p_name FOR UPDATE;
    t := clock_timestamp();  -- after the row lock: a waiter sees the time it decides at
    IF l.holder = p_holder AND l.expires_at > t THEN
        -- renewal: same generation
        UPDATE ivs_sync.leader_lease x
        SET expires_at = t + make_interval(secs => p_ttl_ms / 1000.0)
        WHERE x.name = p_name RETURNING * INTO l;
    ELSIF l.holder IS NULL OR l.expires_at <= t THEN
        -- free or expired: taken, new generation
        UPDATE ivs_sync.leader_lease x
        SET holder = p_holder, generation = x.generation + 1,
            expires_at = t + make_interval(secs => p_ttl_ms / 1000.0)
        WHERE x.name = p_name RETURNING * INTO l;
    ELSE
        held := false;
        generation := l.generation;
        expires_at := l.expires_at;
        holder := l.holder;
        RETURN NEXT;
        RETURN;
    END IF;
    held := true;
    generation := l.generation;
    expires_at := l.expires_at;
    holder := l.holder;
    RETURN NEXT;
END;
$$;

-- Gives the lease up if p_holder holds it (expired or not); true when it did.
-- The generation stays: the next holder gets generation + 1.
CREATE OR REPLACE FUNCTION ivs_sync.lease_release(p_holder text, p_name text DEFAULT 'reconcile')
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    UPDATE ivs_sync.leader_lease x SET holder = NULL, expires_at = '-infinity'
    WHERE x.name = p_name AND x.holder = p_holder;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n > 0;
END;
$$;

-- Fencing: raises SQLSTATE 'IVSL1' unless p_generation is the current
-- generation of an unexpired lease. Call it first in every write transaction of
-- a pass; the share lock it takes lasts to the end of that transaction.
CREATE OR REPLACE FUNCTION ivs_sync.lease_check(p_generation bigint, p_name text DEFAULT 'reconcile')
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    l ivs_sync.leader_lease;
    t timestamptz;
BEGIN
    SELECT * INTO l FROM ivs_sync.leader_lease x WHERE x.name = p_name FOR SHARE;
    t := clock_timestamp();
    IF NOT FOUND OR p_generation IS NULL OR l.holder IS NULL OR l.generation <> p_generation
       OR l.expires_at <= t THEN
        RAISE EXCEPTION 'lease % lost: generation % is not current (holder %, generation %, %)',
            p_name, p_generation, coalesce(l.holder, 'none'), coalesce(l.generation, 0),
            CASE WHEN l.expires_at IS NULL THEN 'no lease'
                 WHEN l.expires_at <= t THEN 'expired ' || l.expires_at::text
                 ELSE 'expires ' || l.expires_at::text END
            USING ERRCODE = 'IVSL1',
                  HINT = 'this replica is no longer the leader: stop the pass';
    END IF;
END;
$$;

-- Fenced observations: apply_observations for a pass of the leader, refused
-- (SQLSTATE IVSL1) unless p_generation is the current unexpired lease. The
-- check and the writes are one statement, so one transaction: a takeover is
-- ordered after any write that passed the check.
CREATE OR REPLACE FUNCTION ivs_sync.apply_observations(p_obs jsonb, p_grace integer,
                                                       p_generation bigint)
RETURNS TABLE (channel_arn text, show_id uuid, previous_status text, new_status text,
               changed boolean, viewer_count integer, result text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ivs_sync.lease_check(p_generation);
    RETURN QUERY SELECT * FROM ivs_sync.apply_observations(p_obs, p_grace);
END;
$$;

-- The leader (holding p_generation) takes the oldest open pass request, or
-- none (NULL). The leader asks only when it runs no requested pass, so an
-- open request taken earlier (by a holder that died, or by this one before a
-- pass could start) is taken again. Requests older than an hour are deleted.
CREATE OR REPLACE FUNCTION ivs_sync.pass_request_take(p_holder text, p_generation bigint)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    r bigint;
BEGIN
    PERFORM ivs_sync.lease_check(p_generation);
    DELETE FROM ivs_sync.pass_requests WHERE requested_at < clock_timestamp() - interval '1 hour';
    UPDATE ivs_sync.pass_requests SET taken_by = p_holder, taken_at = clock_timestamp()
    WHERE id = (SELECT id FROM ivs_sync.pass_requests
                WHERE done_at IS NULL
                ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING id INTO r;
    RETURN r;
END;
$$;
