-- Custom migration: raxx_adjust_cash applies a turn's cash adjustments (decided by the account actor from the rows
-- it read) in one call: one point update per user, each matching only the row version the actor computed from, and
-- SQLSTATE 40001 (retried by the runtime) unless every one matched. SECURITY INVOKER: the tenant policy applies.
-- A loop of point updates, not a join against the arrays: each keeps an index plan whatever the table's size.
CREATE FUNCTION public.raxx_adjust_cash(user_ids text[], amounts numeric[], versions bigint[], counts integer[]) RETURNS integer
  LANGUAGE plpgsql
  SET search_path = pg_catalog
AS $$
DECLARE
  wanted integer := coalesce(array_length(user_ids, 1), 0);
  matched integer := 0;
  n integer;
BEGIN
  FOR i IN 1 .. wanted LOOP
    UPDATE public.paper_accounts
       SET cash = cash + amounts[i], version = version + counts[i], updated_at = now()
     WHERE user_id = user_ids[i] AND version = versions[i] AND status = 'active' AND cash + amounts[i] >= reserved_cash;
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
REVOKE ALL ON FUNCTION public.raxx_adjust_cash(text[], numeric[], bigint[], integer[]) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION public.raxx_adjust_cash(text[], numeric[], bigint[], integer[]) TO raxx_app;
