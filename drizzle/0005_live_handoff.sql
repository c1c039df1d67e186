CREATE TABLE "live_gate_overrides" (
	"user_id" text PRIMARY KEY NOT NULL,
	"granted_by" text NOT NULL,
	"reason" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "live_gate_overrides" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "live_orders" (
	"id" text PRIMARY KEY DEFAULT gen_random_uuid()::text NOT NULL,
	"user_id" text NOT NULL,
	"client_order_id" text NOT NULL,
	"draft" jsonb NOT NULL,
	"draft_hash" text NOT NULL,
	"status" text DEFAULT 'draft' NOT NULL,
	"connection_id" text,
	"broker_order_id" text,
	"broker_status" text,
	"reject_reason" text,
	"submit_attempts" integer DEFAULT 0 NOT NULL,
	"filled_qty" numeric(20, 8) DEFAULT '0' NOT NULL,
	"filled_avg_price" numeric(20, 8),
	"submitted_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "live_orders_status_check" CHECK ("live_orders"."status" in ('draft', 'submitting', 'submitted', 'in_doubt', 'rejected', 'failed', 'filled', 'partially_filled', 'canceled', 'expired'))
);
--> statement-breakpoint
ALTER TABLE "live_orders" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "oauth_states" (
	"state_hash" text PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"session_hash" text NOT NULL,
	"code_verifier" text,
	"redirect_uri" text NOT NULL,
	"scope" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "oauth_states" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "runtime_switches" (
	"name" text PRIMARY KEY NOT NULL,
	"enabled" boolean DEFAULT false NOT NULL,
	"set_by" text NOT NULL,
	"reason" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webauthn_challenges" (
	"id" text PRIMARY KEY DEFAULT gen_random_uuid()::text NOT NULL,
	"user_id" text NOT NULL,
	"purpose" text NOT NULL,
	"challenge" text NOT NULL,
	"live_order_id" text,
	"draft_hash" text,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "webauthn_challenges_purpose_check" CHECK ("webauthn_challenges"."purpose" in ('register', 'step_up', 'live_submit'))
);
--> statement-breakpoint
ALTER TABLE "webauthn_challenges" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "live_gate_overrides" ADD CONSTRAINT "live_gate_overrides_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "live_orders" ADD CONSTRAINT "live_orders_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "oauth_states" ADD CONSTRAINT "oauth_states_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webauthn_challenges" ADD CONSTRAINT "webauthn_challenges_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "live_orders_client_order_id_uq" ON "live_orders" USING btree ("user_id","client_order_id");--> statement-breakpoint
CREATE UNIQUE INDEX "live_orders_broker_order_id_uq" ON "live_orders" USING btree ("broker_order_id");--> statement-breakpoint
CREATE INDEX "oauth_states_user_idx" ON "oauth_states" USING btree ("user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "webauthn_challenges_challenge_uq" ON "webauthn_challenges" USING btree ("challenge");--> statement-breakpoint
CREATE INDEX "webauthn_challenges_user_idx" ON "webauthn_challenges" USING btree ("user_id","purpose");--> statement-breakpoint
CREATE POLICY "live_gate_overrides_app_tenant" ON "live_gate_overrides" AS PERMISSIVE FOR ALL TO "raxx_app" USING ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[])) WITH CHECK ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[]));--> statement-breakpoint
CREATE POLICY "live_gate_overrides_batch_all" ON "live_gate_overrides" AS PERMISSIVE FOR ALL TO "raxx_batch" USING (true) WITH CHECK (true);--> statement-breakpoint
CREATE POLICY "live_orders_app_tenant" ON "live_orders" AS PERMISSIVE FOR ALL TO "raxx_app" USING ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[])) WITH CHECK ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[]));--> statement-breakpoint
CREATE POLICY "live_orders_batch_all" ON "live_orders" AS PERMISSIVE FOR ALL TO "raxx_batch" USING (true) WITH CHECK (true);--> statement-breakpoint
CREATE POLICY "oauth_states_app_tenant" ON "oauth_states" AS PERMISSIVE FOR ALL TO "raxx_app" USING ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[])) WITH CHECK ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[]));--> statement-breakpoint
CREATE POLICY "oauth_states_batch_all" ON "oauth_states" AS PERMISSIVE FOR ALL TO "raxx_batch" USING (true) WITH CHECK (true);--> statement-breakpoint
CREATE POLICY "webauthn_challenges_app_tenant" ON "webauthn_challenges" AS PERMISSIVE FOR ALL TO "raxx_app" USING ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[])) WITH CHECK ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[]));--> statement-breakpoint
CREATE POLICY "webauthn_challenges_batch_all" ON "webauthn_challenges" AS PERMISSIVE FOR ALL TO "raxx_batch" USING (true) WITH CHECK (true);--> statement-breakpoint
-- Hand-added (drizzle-kit emits only ENABLE and cannot express grants): FORCE row-level security like every tenant
-- table, and the grants. Challenges and states are consumed (UPDATE used_at), never deleted by the app; live orders
-- are never deleted at all (they are the record of real-money actions).
ALTER TABLE oauth_states FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE webauthn_challenges FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE live_orders FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE live_gate_overrides FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE ON oauth_states, webauthn_challenges, live_orders, live_gate_overrides TO raxx_app;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON oauth_states, webauthn_challenges TO raxx_batch;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE ON live_orders, live_gate_overrides TO raxx_batch;
--> statement-breakpoint
-- Switches are platform-wide (no RLS): the app reads them per command and operators set them through /ops.
GRANT SELECT, INSERT, UPDATE ON runtime_switches TO raxx_app;
--> statement-breakpoint
GRANT SELECT ON runtime_switches TO raxx_batch;
