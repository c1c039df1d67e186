ALTER TABLE "orders" ADD COLUMN "request_fp" text;--> statement-breakpoint
-- Hand-added data move: the engine state keeps only open orders and no longer carries the client order id index
-- (`clientIds`: client_order_id → [order id, fingerprint]); the fingerprint now lives on the order row, and the actor
-- rebuilds the index from `orders` and reads closed orders from there.
-- The owner has no policy on tenant tables, so FORCE is lifted for the move and restored in the same transaction
-- (migrations run in one).
ALTER TABLE orders NO FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE mbt_states NO FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
UPDATE orders o SET request_fp = s.state->'clientIds'->o.client_order_id->>1
  FROM mbt_states s
 WHERE s.account_id = o.account_id
   AND s.state->'clientIds'->o.client_order_id->>0 = o.id::text;
--> statement-breakpoint
UPDATE mbt_states SET state = state - 'clientIds' WHERE state ? 'clientIds';
--> statement-breakpoint
-- Closed orders leave the engine state too (they are in `orders`; the engine keeps only open ones).
UPDATE mbt_states SET state = jsonb_set(state, '{orders}', coalesce(
    (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(state->'orders') AS e
      WHERE e.value->>'status' IN ('accepted', 'new', 'partially_filled')),
    '{}'::jsonb))
 WHERE state ? 'orders';
--> statement-breakpoint
ALTER TABLE orders FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE mbt_states FORCE ROW LEVEL SECURITY;
