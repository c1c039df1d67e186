-- Custom migration: raxx_expect_rows(matched, expected, what) raises SQLSTATE 40001 (serialization failure, which the
-- runtime retries) when a conditional write matched another number of rows than expected: the check is part of the
-- statement, so a mismatch aborts the transaction like any SQL error.
CREATE FUNCTION public.raxx_expect_rows(matched bigint, expected bigint, what text) RETURNS boolean
  LANGUAGE plpgsql
  SET search_path = pg_catalog
AS $$
BEGIN
  -- (not named `found`: PL/pgSQL's FOUND would shadow it)
  IF matched IS DISTINCT FROM expected THEN
    RAISE EXCEPTION '%: % of % rows matched (a stale copy)', what, matched, expected USING ERRCODE = '40001';
  END IF;
  RETURN true;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION public.raxx_expect_rows(bigint, bigint, text) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION public.raxx_expect_rows(bigint, bigint, text) TO raxx_app;
