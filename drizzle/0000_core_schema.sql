CREATE TYPE "public"."tier" AS ENUM('free', 'pro', 'pro_plus');--> statement-breakpoint
CREATE TYPE "public"."trading_mode" AS ENUM('paper', 'live');--> statement-breakpoint
CREATE TABLE "customer_trading_mode_overrides" (
	"user_id" text PRIMARY KEY NOT NULL,
	"mode" "trading_mode" DEFAULT 'paper' NOT NULL,
	"set_by" text NOT NULL,
	"reason" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "customer_trading_mode_overrides" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "users" (
	"id" text PRIMARY KEY NOT NULL,
	"email" text,
	"display_name" text,
	"tier" "tier" DEFAULT 'free' NOT NULL,
	"role" text DEFAULT 'user' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "users_role_check" CHECK ("users"."role" in ('user', 'operator')),
	CONSTRAINT "users_id_not_empty" CHECK (length("users"."id") > 0)
);
--> statement-breakpoint
ALTER TABLE "users" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "paper_accounts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" text NOT NULL,
	"account_number" text DEFAULT ('PA' || upper(substr(md5(gen_random_uuid()::text), 1, 10))) NOT NULL,
	"account_type" text DEFAULT 'cash' NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"currency" text DEFAULT 'USD' NOT NULL,
	"starting_cash" numeric DEFAULT '100000' NOT NULL,
	"cash" numeric NOT NULL,
	"reserved_cash" numeric DEFAULT '0' NOT NULL,
	"cycle_started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"version" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "paper_accounts_user_id_key" UNIQUE("user_id"),
	CONSTRAINT "paper_accounts_account_number_key" UNIQUE("account_number"),
	CONSTRAINT "paper_accounts_account_type_check" CHECK ("paper_accounts"."account_type" in ('cash', 'margin')),
	CONSTRAINT "paper_accounts_status_check" CHECK ("paper_accounts"."status" in ('active', 'suspended', 'closed')),
	CONSTRAINT "paper_accounts_currency_check" CHECK ("paper_accounts"."currency" ~ '^[A-Z]{3}$'),
	CONSTRAINT "paper_accounts_reserved_cash_check" CHECK ("paper_accounts"."reserved_cash" >= 0),
	CONSTRAINT "paper_accounts_starting_cash_check" CHECK ("paper_accounts"."starting_cash" > 0)
);
--> statement-breakpoint
ALTER TABLE "paper_accounts" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "fills" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" text NOT NULL,
	"account_id" uuid NOT NULL,
	"order_id" uuid NOT NULL,
	"symbol" text NOT NULL,
	"side" text NOT NULL,
	"qty" numeric NOT NULL,
	"price" numeric NOT NULL,
	"fee" numeric DEFAULT '0' NOT NULL,
	"quote_seq" bigint NOT NULL,
	"rule" text NOT NULL,
	"filled_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "fills_side_check" CHECK ("fills"."side" in ('buy', 'sell')),
	CONSTRAINT "fills_qty_positive" CHECK ("fills"."qty" > 0),
	CONSTRAINT "fills_price_positive" CHECK ("fills"."price" > 0),
	CONSTRAINT "fills_fee_nonnegative" CHECK ("fills"."fee" >= 0)
);
--> statement-breakpoint
ALTER TABLE "fills" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "orders" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"client_order_id" text NOT NULL,
	"user_id" text NOT NULL,
	"account_id" uuid NOT NULL,
	"symbol" text NOT NULL,
	"asset_class" text DEFAULT 'us_equity' NOT NULL,
	"side" text NOT NULL,
	"type" text NOT NULL,
	"time_in_force" text NOT NULL,
	"qty" numeric,
	"notional" numeric,
	"filled_qty" numeric DEFAULT '0' NOT NULL,
	"filled_avg_price" numeric,
	"limit_price" numeric,
	"stop_price" numeric,
	"extended_hours" boolean DEFAULT false NOT NULL,
	"status" text DEFAULT 'new' NOT NULL,
	"replaces" uuid,
	"replaced_by" uuid,
	"command_id" text,
	"reject_reason" text,
	"reserved_cash" numeric DEFAULT '0' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"submitted_at" timestamp with time zone DEFAULT now() NOT NULL,
	"filled_at" timestamp with time zone,
	"expired_at" timestamp with time zone,
	"canceled_at" timestamp with time zone,
	"failed_at" timestamp with time zone,
	"replaced_at" timestamp with time zone,
	CONSTRAINT "orders_account_client_order_id_key" UNIQUE("account_id","client_order_id"),
	CONSTRAINT "orders_asset_class_check" CHECK ("orders"."asset_class" in ('us_equity', 'crypto', 'us_option')),
	CONSTRAINT "orders_side_check" CHECK ("orders"."side" in ('buy', 'sell')),
	CONSTRAINT "orders_type_check" CHECK ("orders"."type" in ('market', 'limit', 'stop', 'stop_limit')),
	CONSTRAINT "orders_time_in_force_check" CHECK ("orders"."time_in_force" in ('day', 'gtc', 'opg', 'cls', 'ioc', 'fok')),
	CONSTRAINT "orders_status_check" CHECK ("orders"."status" in ('new', 'accepted', 'pending_new', 'partially_filled', 'pending_cancel', 'pending_replace', 'held', 'filled', 'done_for_day', 'canceled', 'expired', 'replaced', 'rejected', 'suspended', 'stopped', 'calculated')),
	CONSTRAINT "orders_qty_xor_notional" CHECK (num_nonnulls("orders"."qty", "orders"."notional") = 1),
	CONSTRAINT "orders_qty_positive" CHECK ("orders"."qty" is null or "orders"."qty" > 0),
	CONSTRAINT "orders_notional_positive" CHECK ("orders"."notional" is null or "orders"."notional" > 0),
	CONSTRAINT "orders_filled_qty_nonnegative" CHECK ("orders"."filled_qty" >= 0),
	CONSTRAINT "orders_reserved_cash_nonnegative" CHECK ("orders"."reserved_cash" >= 0)
);
--> statement-breakpoint
ALTER TABLE "orders" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "positions" (
	"account_id" uuid NOT NULL,
	"symbol" text NOT NULL,
	"user_id" text NOT NULL,
	"qty" numeric NOT NULL,
	"avg_entry_price" numeric NOT NULL,
	"cost_basis" numeric NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "positions_pkey" PRIMARY KEY("account_id","symbol")
);
--> statement-breakpoint
ALTER TABLE "positions" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "settled_cycles" (
	"user_id" text NOT NULL,
	"account_id" uuid NOT NULL,
	"trading_day" date NOT NULL,
	"equity_open" numeric NOT NULL,
	"equity_close" numeric NOT NULL,
	"pnl" numeric NOT NULL,
	"had_activity" boolean DEFAULT false NOT NULL,
	"settled_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "settled_cycles_pkey" PRIMARY KEY("account_id","trading_day")
);
--> statement-breakpoint
ALTER TABLE "settled_cycles" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "partition_epochs" (
	"partition" integer PRIMARY KEY NOT NULL,
	"epoch" bigint DEFAULT 0 NOT NULL,
	"owner" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "processed_commands" (
	"command_id" text PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"partition" integer NOT NULL,
	"type" text NOT NULL,
	"result_code" text NOT NULL,
	"result" jsonb,
	"processed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "processed_commands" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "alpaca_live_connections" (
	"id" text PRIMARY KEY DEFAULT gen_random_uuid()::text NOT NULL,
	"user_id" text NOT NULL,
	"scopes" text NOT NULL,
	"access_token_ciphertext" "bytea" NOT NULL,
	"access_token_iv" "bytea" NOT NULL,
	"access_token_wrapped_dek" "bytea" NOT NULL,
	"kms_key_id" text NOT NULL,
	"refresh_token_ciphertext" "bytea",
	"refresh_token_iv" "bytea",
	"refresh_token_wrapped_dek" "bytea",
	"issued_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"last_used_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"needs_reauth" boolean DEFAULT false NOT NULL,
	"version" integer NOT NULL,
	CONSTRAINT "alpaca_live_connections_access_token_not_empty" CHECK (length("alpaca_live_connections"."access_token_ciphertext") > 0)
);
--> statement-breakpoint
ALTER TABLE "alpaca_live_connections" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "webauthn_credentials" (
	"id" text PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"public_key" "bytea" NOT NULL,
	"counter" bigint DEFAULT 0 NOT NULL,
	"transports" text[] DEFAULT '{}'::text[] NOT NULL,
	"device_type" text NOT NULL,
	"backed_up" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp with time zone,
	CONSTRAINT "webauthn_credentials_device_type_check" CHECK ("webauthn_credentials"."device_type" in ('singleDevice', 'multiDevice'))
);
--> statement-breakpoint
ALTER TABLE "webauthn_credentials" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "audit_log" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "audit_log_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"chain" text NOT NULL,
	"seq" bigint NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"actor" text NOT NULL,
	"subject" text,
	"action" text NOT NULL,
	"outcome" text NOT NULL,
	"correlation_id" text,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"prev_hash" text NOT NULL,
	"hash" text NOT NULL,
	CONSTRAINT "audit_log_chain_seq_key" UNIQUE("chain","seq"),
	CONSTRAINT "audit_log_prev_hash_key" UNIQUE("prev_hash"),
	CONSTRAINT "audit_log_chain_not_empty" CHECK (length("audit_log"."chain") > 0),
	CONSTRAINT "audit_log_details_is_object" CHECK (jsonb_typeof("audit_log"."details") = 'object')
);
--> statement-breakpoint
ALTER TABLE "audit_log" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "customer_trading_mode_overrides" ADD CONSTRAINT "customer_trading_mode_overrides_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "paper_accounts" ADD CONSTRAINT "paper_accounts_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fills" ADD CONSTRAINT "fills_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fills" ADD CONSTRAINT "fills_account_id_paper_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."paper_accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fills" ADD CONSTRAINT "fills_order_id_orders_id_fk" FOREIGN KEY ("order_id") REFERENCES "public"."orders"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_account_id_paper_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."paper_accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_replaces_orders_id_fk" FOREIGN KEY ("replaces") REFERENCES "public"."orders"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_replaced_by_orders_id_fk" FOREIGN KEY ("replaced_by") REFERENCES "public"."orders"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "positions" ADD CONSTRAINT "positions_account_id_paper_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."paper_accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "positions" ADD CONSTRAINT "positions_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "settled_cycles" ADD CONSTRAINT "settled_cycles_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "settled_cycles" ADD CONSTRAINT "settled_cycles_account_id_paper_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."paper_accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "processed_commands" ADD CONSTRAINT "processed_commands_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "alpaca_live_connections" ADD CONSTRAINT "alpaca_live_connections_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webauthn_credentials" ADD CONSTRAINT "webauthn_credentials_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "fills_account_filled_idx" ON "fills" USING btree ("account_id","filled_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "fills_order_idx" ON "fills" USING btree ("order_id");--> statement-breakpoint
CREATE INDEX "orders_account_created_idx" ON "orders" USING btree ("account_id","created_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "orders_open_by_symbol_idx" ON "orders" USING btree ("symbol") WHERE status in ('new', 'accepted', 'pending_new', 'partially_filled', 'pending_cancel', 'pending_replace', 'held');--> statement-breakpoint
CREATE INDEX "processed_commands_processed_at_idx" ON "processed_commands" USING btree ("processed_at");--> statement-breakpoint
CREATE UNIQUE INDEX "alpaca_live_connections_one_active_per_user" ON "alpaca_live_connections" USING btree ("user_id") WHERE revoked_at is null;--> statement-breakpoint
CREATE INDEX "webauthn_credentials_user_idx" ON "webauthn_credentials" USING btree ("user_id");--> statement-breakpoint
CREATE POLICY "customer_trading_mode_overrides_app_tenant" ON "customer_trading_mode_overrides" AS PERMISSIVE FOR ALL TO "raxx_app" USING ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[])) WITH CHECK ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[]));--> statement-breakpoint
CREATE POLICY "customer_trading_mode_overrides_batch_all" ON "customer_trading_mode_overrides" AS PERMISSIVE FOR ALL TO "raxx_batch" USING (true) WITH CHECK (true);--> statement-breakpoint
CREATE POLICY "users_app_tenant" ON "users" AS PERMISSIVE FOR ALL TO "raxx_app" USING ("id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[])) WITH CHECK ("id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[]));--> statement-breakpoint
CREATE POLICY "users_batch_all" ON "users" AS PERMISSIVE FOR ALL TO "raxx_batch" USING (true) WITH CHECK (true);--> statement-breakpoint
CREATE POLICY "paper_accounts_app_tenant" ON "paper_accounts" AS PERMISSIVE FOR ALL TO "raxx_app" USING ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[])) WITH CHECK ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[]));--> statement-breakpoint
CREATE POLICY "paper_accounts_batch_all" ON "paper_accounts" AS PERMISSIVE FOR ALL TO "raxx_batch" USING (true) WITH CHECK (true);--> statement-breakpoint
CREATE POLICY "fills_app_tenant" ON "fills" AS PERMISSIVE FOR ALL TO "raxx_app" USING ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[])) WITH CHECK ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[]));--> statement-breakpoint
CREATE POLICY "fills_batch_all" ON "fills" AS PERMISSIVE FOR ALL TO "raxx_batch" USING (true) WITH CHECK (true);--> statement-breakpoint
CREATE POLICY "orders_app_tenant" ON "orders" AS PERMISSIVE FOR ALL TO "raxx_app" USING ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[])) WITH CHECK ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[]));--> statement-breakpoint
CREATE POLICY "orders_batch_all" ON "orders" AS PERMISSIVE FOR ALL TO "raxx_batch" USING (true) WITH CHECK (true);--> statement-breakpoint
CREATE POLICY "positions_app_tenant" ON "positions" AS PERMISSIVE FOR ALL TO "raxx_app" USING ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[])) WITH CHECK ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[]));--> statement-breakpoint
CREATE POLICY "positions_batch_all" ON "positions" AS PERMISSIVE FOR ALL TO "raxx_batch" USING (true) WITH CHECK (true);--> statement-breakpoint
CREATE POLICY "settled_cycles_app_tenant" ON "settled_cycles" AS PERMISSIVE FOR ALL TO "raxx_app" USING ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[])) WITH CHECK ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[]));--> statement-breakpoint
CREATE POLICY "settled_cycles_batch_all" ON "settled_cycles" AS PERMISSIVE FOR ALL TO "raxx_batch" USING (true) WITH CHECK (true);--> statement-breakpoint
CREATE POLICY "processed_commands_app_tenant" ON "processed_commands" AS PERMISSIVE FOR ALL TO "raxx_app" USING ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[])) WITH CHECK ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[]));--> statement-breakpoint
CREATE POLICY "processed_commands_batch_all" ON "processed_commands" AS PERMISSIVE FOR ALL TO "raxx_batch" USING (true) WITH CHECK (true);--> statement-breakpoint
CREATE POLICY "alpaca_live_connections_app_tenant" ON "alpaca_live_connections" AS PERMISSIVE FOR ALL TO "raxx_app" USING ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[])) WITH CHECK ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[]));--> statement-breakpoint
CREATE POLICY "alpaca_live_connections_batch_all" ON "alpaca_live_connections" AS PERMISSIVE FOR ALL TO "raxx_batch" USING (true) WITH CHECK (true);--> statement-breakpoint
CREATE POLICY "webauthn_credentials_app_tenant" ON "webauthn_credentials" AS PERMISSIVE FOR ALL TO "raxx_app" USING ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[])) WITH CHECK ("user_id" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[]));--> statement-breakpoint
CREATE POLICY "webauthn_credentials_batch_all" ON "webauthn_credentials" AS PERMISSIVE FOR ALL TO "raxx_batch" USING (true) WITH CHECK (true);--> statement-breakpoint
CREATE POLICY "audit_log_app_insert" ON "audit_log" AS PERMISSIVE FOR INSERT TO "raxx_app" WITH CHECK (true);--> statement-breakpoint
CREATE POLICY "audit_log_app_select" ON "audit_log" AS PERMISSIVE FOR SELECT TO "raxx_app" USING ("chain" = ANY (coalesce(nullif(current_setting('raxx.user_ids', true), ''), '{}')::text[]));--> statement-breakpoint
CREATE POLICY "audit_log_batch_all" ON "audit_log" AS PERMISSIVE FOR ALL TO "raxx_batch" USING (true) WITH CHECK (true);--> statement-breakpoint
CREATE POLICY "audit_log_owner_all" ON "audit_log" AS PERMISSIVE FOR ALL TO "raxx_owner" USING (true) WITH CHECK (true);