CREATE TABLE "market_data_rules" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"symbols" text[] NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "market_data_rules_id_format" CHECK ("market_data_rules"."id" ~ '^[A-Za-z][A-Za-z0-9_.-]{0,63}$')
);
--> statement-breakpoint
-- Hand-added (drizzle-kit cannot express grants): the rule registry is not a tenant table, so no RLS. The app
-- (ops/admin paths) reads and writes it; workers only read it. Rules are disabled, never deleted.
GRANT SELECT, INSERT, UPDATE ON market_data_rules TO raxx_app;
--> statement-breakpoint
GRANT SELECT ON market_data_rules TO raxx_batch;
