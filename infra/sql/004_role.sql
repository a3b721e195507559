-- repeatable: re-applied whenever this file changes.
-- A least-privilege serving role (README "Database role").
--
-- `ivs-syncd migrate --grant-to ROLE`, run by the owner, calls
-- ivs_sync.grant_serving_role(ROLE): it grants exactly what `serve` needs and,
-- when public.shows has row-level security on, adds two policies for that role
-- (ivs_syncd_<role>_select, ivs_syncd_<role>_update) that let it see and
-- update every row. Running it again changes nothing.
--
-- `serve` calls ivs_sync.serving_role_problems() at start-up and with its
-- readiness checks: one row per problem, severity 'error' (the role cannot see
-- or update shows: not ready, events answered 503) or 'warn' (a policy whose
-- effect cannot be judged, e.g. USING (seller_id = auth.uid())).

-- The columns of public.shows that ivs-syncd reads, and those it writes.
CREATE OR REPLACE FUNCTION ivs_sync._shows_columns(p_write boolean) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_write THEN
        ARRAY['status', 'stream_status', 'is_streaming', 'went_live_at', 'ended_at',
              'actual_start', 'actual_end', 'viewer_count', 'ivs_stream_id', 'stream_state_at',
              'stream_health', 'stream_synced_at']
    ELSE
        ARRAY['id', 'status', 'ivs_channel_arn', 'stream_status', 'is_streaming', 'went_live_at',
              'ended_at', 'actual_start', 'actual_end', 'viewer_count', 'ivs_stream_id',
              'stream_state_at', 'stream_health', 'stream_synced_at']
    END;
$$;

-- The SQL that grant_serving_role runs, one statement a row (shown by the README
-- and by `migrate --grant-to ROLE --dry-run`).
CREATE OR REPLACE FUNCTION ivs_sync.grant_serving_role_sql(p_role name) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    r text := quote_ident(p_role);
    rls boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_role) THEN
        RAISE EXCEPTION 'role "%" does not exist', p_role
            USING HINT = 'CREATE ROLE ' || r || ' LOGIN PASSWORD ''...'' first';
    END IF;
    SELECT c.relrowsecurity INTO rls FROM pg_class c WHERE c.oid = 'public.shows'::regclass;
    RETURN NEXT format('GRANT USAGE ON SCHEMA public, ivs_sync TO %s', r);
    RETURN NEXT format('GRANT SELECT (%s) ON public.shows TO %s',
                       array_to_string(ivs_sync._shows_columns(false), ', '), r);
    RETURN NEXT format('GRANT UPDATE (%s) ON public.shows TO %s',
                       array_to_string(ivs_sync._shows_columns(true), ', '), r);
    RETURN NEXT format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ivs_sync TO %s', r);
    RETURN NEXT format('REVOKE INSERT, UPDATE, DELETE ON ivs_sync.migrations FROM %s', r);
    RETURN NEXT format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA ivs_sync TO %s', r);
    RETURN NEXT format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ivs_sync TO %s', r);
    IF rls THEN
        RETURN NEXT format('DROP POLICY IF EXISTS %I ON public.shows', 'ivs_syncd_' || p_role || '_select');
        RETURN NEXT format('CREATE POLICY %I ON public.shows AS PERMISSIVE FOR SELECT TO %s USING (true)',
                           'ivs_syncd_' || p_role || '_select', r);
        RETURN NEXT format('DROP POLICY IF EXISTS %I ON public.shows', 'ivs_syncd_' || p_role || '_update');
        RETURN NEXT format('CREATE POLICY %I ON public.shows AS PERMISSIVE FOR UPDATE TO %s '
                           'USING (true) WITH CHECK (true)', 'ivs_syncd_' || p_role || '_update', r);
    END IF;
END;
$$;

CREATE OR REPLACE FUNCTION ivs_sync.grant_serving_role(p_role name) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    stmt text;
BEGIN
    FOR stmt IN SELECT * FROM ivs_sync.grant_serving_role_sql(p_role) LOOP
        EXECUTE stmt;
        RETURN NEXT stmt;
    END LOOP;
END;
$$;

-- What stops the current role from serving. Severity 'error': it cannot see or
-- update the rows of public.shows (missing privileges, or row-level security
-- with no policy that lets it); 'warn': a policy applies whose effect cannot be
-- judged (anything but USING (true)), so some rows may be invisible.
CREATE OR REPLACE FUNCTION ivs_sync.serving_role_problems()
RETURNS TABLE (severity text, problem text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    me name := current_user;
    t oid := 'public.shows'::regclass;
    c record;
    v_missing text;
    missing text[] := '{}';
    rls boolean;
    forced boolean;
    is_owner boolean;
    bypass boolean;
    has_sel boolean;
    has_upd boolean;
    sel_ok boolean;
    upd_ok boolean;
    restrictive boolean;
    odd text[];
BEGIN
    IF NOT has_schema_privilege(me, 'ivs_sync', 'USAGE') THEN
        missing := missing || 'USAGE on schema ivs_sync'::text;
    END IF;
    SELECT 'SELECT (' || string_agg(col, ', ') || ') on public.shows' INTO v_missing
    FROM unnest(ivs_sync._shows_columns(false)) col
    WHERE NOT has_column_privilege(me, t, col, 'SELECT');
    IF v_missing IS NOT NULL THEN
        missing := missing || v_missing;
    END IF;
    SELECT 'UPDATE (' || string_agg(col, ', ') || ') on public.shows' INTO v_missing
    FROM unnest(ivs_sync._shows_columns(true)) col
    WHERE NOT has_column_privilege(me, t, col, 'UPDATE');
    IF v_missing IS NOT NULL THEN
        missing := missing || v_missing;
    END IF;
    FOR c IN SELECT cl.relname FROM pg_class cl
             WHERE cl.relnamespace = 'ivs_sync'::regnamespace AND cl.relkind IN ('r', 'p')
               AND cl.relname <> 'migrations' ORDER BY cl.relname LOOP
        IF NOT has_table_privilege(me, format('ivs_sync.%I', c.relname),
                                   'SELECT, INSERT, UPDATE, DELETE') THEN
            missing := missing || format('SELECT, INSERT, UPDATE, DELETE on ivs_sync.%I', c.relname);
        END IF;
    END LOOP;
    IF cardinality(missing) > 0 THEN
        severity := 'error';
        problem := format('role %s lacks privileges: %s; fix: ivs-syncd migrate --grant-to %s (as the owner)',
                          me, array_to_string(missing, '; '), me);
        RETURN NEXT;
    END IF;

    SELECT cl.relrowsecurity, cl.relforcerowsecurity, pg_has_role(me, cl.relowner, 'USAGE')
    INTO rls, forced, is_owner FROM pg_class cl WHERE cl.oid = t;
    SELECT r.rolbypassrls OR r.rolsuper INTO bypass FROM pg_roles r WHERE r.rolname = me;
    IF NOT rls OR bypass OR (is_owner AND NOT forced) THEN
        RETURN;
    END IF;
    -- permissive policies that apply to this role (directly, by membership, or PUBLIC)
    SELECT bool_or(p.polcmd IN ('r', '*')), bool_or(p.polcmd IN ('w', '*')),
           bool_or(p.polcmd IN ('r', '*') AND coalesce(pg_get_expr(p.polqual, p.polrelid), 'true') = 'true'),
           bool_or(p.polcmd IN ('w', '*') AND coalesce(pg_get_expr(p.polqual, p.polrelid), 'true') = 'true'
                   AND coalesce(pg_get_expr(p.polwithcheck, p.polrelid), 'true') = 'true')
    INTO has_sel, has_upd, sel_ok, upd_ok
    FROM pg_policy p
    WHERE p.polrelid = t AND p.polpermissive
      AND (0::oid = ANY (p.polroles) OR EXISTS (
              SELECT 1 FROM unnest(p.polroles) pr WHERE pg_has_role(me, pr, 'USAGE')));
    SELECT array_agg(format('%s (%s %s USING (%s))', p.polname,
                            CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END,
                            CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'w' THEN 'UPDATE'
                                          WHEN 'a' THEN 'INSERT' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
                            coalesce(pg_get_expr(p.polqual, p.polrelid), 'true')) ORDER BY p.polname)
    INTO odd
    FROM pg_policy p
    WHERE p.polrelid = t AND p.polcmd IN ('r', 'w', '*')
      AND (0::oid = ANY (p.polroles) OR EXISTS (
              SELECT 1 FROM unnest(p.polroles) pr WHERE pg_has_role(me, pr, 'USAGE')))
      AND (NOT p.polpermissive OR coalesce(pg_get_expr(p.polqual, p.polrelid), 'true') <> 'true'
           OR coalesce(pg_get_expr(p.polwithcheck, p.polrelid), 'true') <> 'true');
    SELECT coalesce(bool_or(true), false) INTO restrictive FROM pg_policy p
    WHERE p.polrelid = t AND NOT p.polpermissive AND p.polcmd IN ('r', 'w', '*')
      AND (0::oid = ANY (p.polroles) OR EXISTS (
              SELECT 1 FROM unnest(p.polroles) pr WHERE pg_has_role(me, pr, 'USAGE')));
    IF NOT coalesce(has_sel, false) OR NOT coalesce(has_upd, false) THEN
        severity := 'error';
        problem := format('row-level security on public.shows hides its rows from role %s '
                          '(no policy lets it %s them); fix: ivs-syncd migrate --grant-to %s '
                          '(as the owner)', me,
                          CASE WHEN NOT coalesce(has_sel, false) AND NOT coalesce(has_upd, false)
                               THEN 'see or update' WHEN NOT coalesce(has_sel, false) THEN 'see'
                               ELSE 'update' END, me);
        RETURN NEXT;
    ELSIF NOT (coalesce(sel_ok, false) AND coalesce(upd_ok, false)) OR restrictive THEN
        severity := 'warn';
        problem := format('row-level security on public.shows: policies that apply to role %s '
                          'may hide rows and cannot be judged: %s', me, array_to_string(odd, '; '));
        RETURN NEXT;
    END IF;
END;
$$;
