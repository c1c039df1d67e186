CREATE TABLE "mbt_inputs" (
	"account_id" uuid NOT NULL,
	"n" bigint NOT NULL,
	"user_id" text NOT NULL,
	"input" jsonb NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "mbt_inputs_pkey" PRIMARY KEY("account_id","n"),
	CONSTRAINT "mbt_inputs_n_check" CHECK ("mbt_inputs"."n" > 0)
);
--> statement-breakpoint
ALTER TABLE "mbt_inputs" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "mbt_states" (
	"account_id" uuid PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"init" jsonb NOT NULL,
	"state" jsonb NOT NULL,
	"input_count" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "mbt_states_input_count_check" CHECK ("mbt_states"."input_count" >= 0)
);
--> statement-breakpoint
ALTER TABLE "mbt_states" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "mbt_inputs" ADD CONSTRAINT "mbt_inputs_account_id_paper_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."paper_accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mbt_inputs" ADD CONSTRAINT "mbt_inputs_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mbt_states" ADD CONSTRAINT "mbt_states_account_id_paper_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."paper_accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mbt_states" ADD CONSTRAINT "mbt_states_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "mbt_states_user_idx" ON "mbt_states" USING btree ("user_id");--> statement-breakpoint
CREATE POLICY "mbt_inputs_app_tenant" ON "mbt_inputs" AS PERMISSIVE FOR ALL TO "raxx_app" USING ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[])) WITH CHECK ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[]));--> statement-breakpoint
CREATE POLICY "mbt_inputs_batch_all" ON "mbt_inputs" AS PERMISSIVE FOR ALL TO "raxx_batch" USING (true) WITH CHECK (true);--> statement-breakpoint
CREATE POLICY "mbt_states_app_tenant" ON "mbt_states" AS PERMISSIVE FOR ALL TO "raxx_app" USING ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[])) WITH CHECK ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[]));--> statement-breakpoint
CREATE POLICY "mbt_states_batch_all" ON "mbt_states" AS PERMISSIVE FOR ALL TO "raxx_batch" USING (true) WITH CHECK (true);--> statement-breakpoint
-- Hand-added (drizzle-kit emits only ENABLE and cannot express grants): FORCE row-level security like every tenant
-- table (0001), so the owner sees no tenant rows either.
ALTER TABLE mbt_states FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE mbt_inputs FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
-- The account actor (raxx_app) keeps its engine state and appends the inputs; the input log is append-only.
GRANT SELECT, INSERT, UPDATE ON mbt_states TO raxx_app;
--> statement-breakpoint
GRANT SELECT, INSERT ON mbt_inputs TO raxx_app;
--> statement-breakpoint
-- `npm run mbt:explain` (and export for replay) reads across tenants with the batch role.
GRANT SELECT ON mbt_states, mbt_inputs TO raxx_batch;
