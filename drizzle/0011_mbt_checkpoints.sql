CREATE TABLE "mbt_checkpoints" (
	"account_id" uuid NOT NULL,
	"n" bigint NOT NULL,
	"user_id" text NOT NULL,
	"trading_day" date NOT NULL,
	"state" jsonb NOT NULL,
	"client_ids" jsonb NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "mbt_checkpoints_pkey" PRIMARY KEY("account_id","n"),
	CONSTRAINT "mbt_checkpoints_n_check" CHECK ("mbt_checkpoints"."n" > 0)
);
--> statement-breakpoint
ALTER TABLE "mbt_checkpoints" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "mbt_checkpoints" ADD CONSTRAINT "mbt_checkpoints_account_id_paper_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."paper_accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mbt_checkpoints" ADD CONSTRAINT "mbt_checkpoints_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE POLICY "mbt_checkpoints_app_tenant" ON "mbt_checkpoints" AS PERMISSIVE FOR ALL TO "raxx_app" USING ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[])) WITH CHECK ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[]));--> statement-breakpoint
CREATE POLICY "mbt_checkpoints_batch_all" ON "mbt_checkpoints" AS PERMISSIVE FOR ALL TO "raxx_batch" USING (true) WITH CHECK (true);--> statement-breakpoint
-- Hand-added (drizzle-kit emits only ENABLE and cannot express grants): FORCE row-level security like every tenant
-- table, and the grants.
ALTER TABLE mbt_checkpoints FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
-- The account actor writes a checkpoint in the turn of each settle; the rows are never changed.
GRANT SELECT, INSERT ON mbt_checkpoints TO raxx_app;
--> statement-breakpoint
-- Retention (workers, batch role) removes an account's inputs up to a checkpoint older than its tier's horizon, and
-- the checkpoints before that one; `npm run mbt:explain --export` reads them.
GRANT SELECT, DELETE ON mbt_checkpoints, mbt_inputs TO raxx_batch;
