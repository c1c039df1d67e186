CREATE TABLE "signal_outbox" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "signal_outbox_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"partition" integer NOT NULL,
	"user_ids" text[] NOT NULL,
	"effects" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "signal_outbox_has_users" CHECK (cardinality("signal_outbox"."user_ids") > 0)
);
--> statement-breakpoint
ALTER TABLE "signal_outbox" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE INDEX "signal_outbox_partition_idx" ON "signal_outbox" USING btree ("partition","id");--> statement-breakpoint
CREATE POLICY "signal_outbox_app_tenant" ON "signal_outbox" AS PERMISSIVE FOR ALL TO "raxx_app" USING ("user_ids" <@ (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[])) WITH CHECK ("user_ids" <@ (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[]));--> statement-breakpoint
CREATE POLICY "signal_outbox_batch_all" ON "signal_outbox" AS PERMISSIVE FOR ALL TO "raxx_batch" USING (true) WITH CHECK (true);--> statement-breakpoint
-- Hand-added (drizzle-kit emits only ENABLE and cannot express grants): FORCE row-level security, and the grants.
-- The app role writes rows in its turn (scope = the turn's users) and deletes them once appended; the batch role (the
-- accounts role's recovery reader) finds and deletes what a dead replica left.
ALTER TABLE signal_outbox FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
GRANT SELECT, INSERT, DELETE ON signal_outbox TO raxx_app;
--> statement-breakpoint
GRANT SELECT, DELETE ON signal_outbox TO raxx_batch;
