-- Custom migration: raxx_adjust_cash_by_id, raxx_adjust_cash keyed by account id. Under the tenant policy a point
-- update by user_id is slow in a large turn: PostgreSQL 15 makes the policy's `user_id = ANY(<the turn's users>)` an
-- index condition beside the update's own `user_id = …`, and the btree is searched once per user in the scope, so n
-- updates in a turn of n users cost n² searches (387 ms for 1,024 users on 100,000 accounts; docs/database.md). By
-- primary key the policy is a filter on the one row found. Same rules otherwise: each update matches only the row
-- version the actor computed from, SQLSTATE 40001 unless every one matched; SECURITY INVOKER, so the policy applies.
-- raxx_adjust_cash stays for replicas of the previous release during a rolling deploy.
CREATE FUNCTION public.raxx_adjust_cash_by_id(account_ids uuid[], amounts numeric[], versions bigint[], counts integer[]) RETURNS integer
  LANGUAGE plpgsql
  SET search_path = pg_catalog
AS $$
DECLARE
  wanted integer := coalesce(array_length(account_ids, 1), 0);
  matched integer := 0;
  n integer;
BEGIN
  FOR i IN 1 .. wanted LOOP
    UPDATE public.paper_accounts
       SET cash = cash + amounts[i], version = version + counts[i], updated_at = now()
     WHERE id = account_ids[i] AND version = versions[i] AND status = 'active' AND cash + amounts[i] >= reserved_cash;
    GET DIAGNOSTICS n = ROW_COUNT;
    matched := matched + n;
  END LOOP;
  IF matched <> wanted THEN
    RAISE EXCEPTION 'paper_accounts (cash adjustments): % of % rows matched (a stale copy)', matched, wanted USING ERRCODE = '40001';
  END IF;
  RETURN matched;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION public.raxx_adjust_cash_by_id(uuid[], numeric[], bigint[], integer[]) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION public.raxx_adjust_cash_by_id(uuid[], numeric[], bigint[], integer[]) TO raxx_app;
