-- Custom migration: what drizzle-kit cannot express. FORCE row-level security, grants to the roles
-- that bootstrap (or the DBA) created, and the append-only hash-chained audit log triggers.
-- See docs/database.md for the model; every statement is ordinary DDL run as raxx_owner.

-- Ownership is a security property (FORCE RLS, "raxx_app owns nothing"), so refuse to run as anyone else.
DO $$
BEGIN
  IF current_user <> 'raxx_owner' THEN
    RAISE EXCEPTION 'migrations must run as raxx_owner (current_user is %)', current_user
      USING ERRCODE = '42501', HINT = 'set the migration role (config.database.migrationRole) to raxx_owner';
  END IF;
END
$$;
--> statement-breakpoint

-- Nobody but the owner may create objects; the runtime roles may only look names up.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO raxx_app, raxx_batch;
--> statement-breakpoint

-- FORCE: the owner is subject to the policies too (it has none on tenant tables, so it sees no tenant rows).
ALTER TABLE users FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE customer_trading_mode_overrides FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE paper_accounts FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE orders FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE fills FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE positions FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE settled_cycles FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE processed_commands FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE alpaca_live_connections FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE webauthn_credentials FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
--> statement-breakpoint

-- Grants: only what each role's code paths need. History tables (fills, processed_commands) are insert-only
-- for the app; nothing is granted implicitly (no ALTER DEFAULT PRIVILEGES), so a new table is invisible to the
-- runtime roles until its migration grants it.
GRANT SELECT, INSERT, UPDATE ON users, paper_accounts, orders TO raxx_app;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON customer_trading_mode_overrides, positions, alpaca_live_connections, webauthn_credentials TO raxx_app;
--> statement-breakpoint
GRANT SELECT, INSERT ON fills, settled_cycles, processed_commands TO raxx_app;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE ON partition_epochs TO raxx_app;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON users, customer_trading_mode_overrides, positions, alpaca_live_connections, webauthn_credentials TO raxx_batch;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE ON paper_accounts, orders, settled_cycles TO raxx_batch;
--> statement-breakpoint
GRANT SELECT, INSERT ON fills TO raxx_batch;
--> statement-breakpoint
GRANT SELECT, INSERT, DELETE ON processed_commands TO raxx_batch;
--> statement-breakpoint
GRANT SELECT ON partition_epochs TO raxx_batch;
--> statement-breakpoint

-- audit_log: append and read only. The REVOKE is explicit so a later broad GRANT cannot be mistaken for intent.
GRANT SELECT, INSERT ON audit_log TO raxx_app, raxx_batch;
--> statement-breakpoint
REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_log FROM PUBLIC, raxx_app, raxx_batch;
--> statement-breakpoint

-- Chain trigger. SECURITY DEFINER (runs as raxx_owner) because the inserting role may not be allowed to read
-- the chain it appends to (the app writes 'system' rows); the owner's policy on audit_log lets it read under
-- FORCE RLS. search_path is pinned and every non-catalog name qualified, so a caller cannot substitute objects.
-- seq/prev_hash/hash/at are computed here, after the per-chain lock: a column DEFAULT is evaluated before the
-- trigger runs, i.e. before the lock, and two concurrent appenders would both get the same predecessor.
CREATE FUNCTION public.audit_log_chain() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  last_seq bigint;
  last_hash text;
  canonical text;
BEGIN
  -- Two-key advisory lock: class 1380014168 ('RAXX') keeps it apart from other advisory users. Held until the
  -- transaction ends, so the next appender (a fresh READ COMMITTED snapshot per statement) sees this row.
  PERFORM pg_advisory_xact_lock(1380014168, hashtext(NEW.chain));

  SELECT a.seq, a.hash INTO last_seq, last_hash
    FROM public.audit_log a
   WHERE a.chain = NEW.chain
   ORDER BY a.seq DESC
   LIMIT 1;

  IF last_seq IS NULL THEN
    NEW.seq := 1;
    NEW.prev_hash := encode(sha256(convert_to('genesis:' || NEW.chain, 'UTF8')), 'hex');
  ELSE
    NEW.seq := last_seq + 1;
    NEW.prev_hash := last_hash;
  END IF;
  NEW.at := coalesce(NEW.at, clock_timestamp());
  NEW.details := coalesce(NEW.details, '{}'::jsonb);

  -- Canonical JSON (docs/database.md): keys in byte order, no whitespace, strings escaped by to_json(),
  -- id and seq as decimal strings, at as UTC ISO-8601 with microseconds, details as jsonb's own text form.
  -- coalesce(…, 'null') everywhere so a NULL in a NOT NULL column is reported by that column, not by "hash".
  canonical := '{"action":' || coalesce(to_json(NEW.action)::text, 'null')
    || ',"actor":' || coalesce(to_json(NEW.actor)::text, 'null')
    || ',"at":' || to_json(to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
    || ',"chain":' || coalesce(to_json(NEW.chain)::text, 'null')
    || ',"correlation_id":' || coalesce(to_json(NEW.correlation_id)::text, 'null')
    || ',"details":' || NEW.details::text
    || ',"id":' || to_json(NEW.id::text)::text
    || ',"outcome":' || coalesce(to_json(NEW.outcome)::text, 'null')
    || ',"seq":' || to_json(NEW.seq::text)::text
    || ',"subject":' || coalesce(to_json(NEW.subject)::text, 'null')
    || '}';
  NEW.hash := encode(sha256(convert_to(NEW.prev_hash || E'\n' || canonical, 'UTF8')), 'hex');
  RETURN NEW;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION public.audit_log_chain() FROM PUBLIC;
--> statement-breakpoint
CREATE TRIGGER audit_log_chain BEFORE INSERT ON public.audit_log
  FOR EACH ROW EXECUTE FUNCTION public.audit_log_chain();
--> statement-breakpoint

-- Append-only guard. Grants already stop raxx_app/raxx_batch; this stops the owner (and anyone granted more
-- later). SQLSTATE RXA01 is ours: "audit log is append-only".
CREATE FUNCTION public.audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'RXA01';
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION public.audit_log_refuse_change() FROM PUBLIC;
--> statement-breakpoint
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON public.audit_log
  FOR EACH ROW EXECUTE FUNCTION public.audit_log_refuse_change();
--> statement-breakpoint
-- Row triggers do not fire on TRUNCATE, hence a statement trigger as well.
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON public.audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION public.audit_log_refuse_change();
