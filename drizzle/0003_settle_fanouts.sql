CREATE TABLE "settle_fanouts" (
	"trading_day" date PRIMARY KEY NOT NULL,
	"close_at" timestamp with time zone NOT NULL,
	"cursor" text,
	"users_appended" integer DEFAULT 0 NOT NULL,
	"completed_at" timestamp with time zone,
	"scheduled" boolean DEFAULT false NOT NULL,
	"triggered_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "settle_fanouts_users_appended_check" CHECK ("settle_fanouts"."users_appended" >= 0)
);
--> statement-breakpoint
-- Hand-added (drizzle-kit cannot express grants): the fan-out progress is workers-only bookkeeping, not tenant data,
-- so no RLS; the app roles never touch it.
GRANT SELECT, INSERT, UPDATE ON settle_fanouts TO raxx_batch;
--> statement-breakpoint
-- The retention purge (workers, batch role) deletes closed paper orders and their fills past the tier's horizon.
-- Positions, open orders, settled_cycles and audit_log stay (docs/workers.md says why).
GRANT DELETE ON orders, fills TO raxx_batch;
