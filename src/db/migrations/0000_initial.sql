CREATE TABLE "approval_decisions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"approval_request_id" uuid NOT NULL,
	"action" text NOT NULL,
	"client_token" text NOT NULL,
	"idempotency_key" text NOT NULL,
	"actor" text,
	"body" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "approval_requests" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"run_id" uuid NOT NULL,
	"phase_id" uuid NOT NULL,
	"gate_key" text NOT NULL,
	"kind" text NOT NULL,
	"attempt" integer NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"reason" text,
	"resolved_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"resolved_at" timestamp with time zone,
	CONSTRAINT "approval_requests_state_valid" CHECK ("approval_requests"."state" in ('pending','approved','rejected','changes_requested','aborted'))
);
--> statement-breakpoint
CREATE TABLE "webhook_deliveries" (
	"id" text PRIMARY KEY NOT NULL,
	"event" text NOT NULL,
	"action" text,
	"installation_id" bigint,
	"repository" text,
	"run_id" uuid,
	"outcome" text NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "run_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"run_id" uuid NOT NULL,
	"seq" bigint NOT NULL,
	"type" text NOT NULL,
	"payload" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"idempotency_key" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "runner_executions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"run_id" uuid NOT NULL,
	"phase_id" uuid NOT NULL,
	"attempt_id" uuid NOT NULL,
	"revision" integer NOT NULL,
	"role" text NOT NULL,
	"backend" text NOT NULL,
	"handle" jsonb,
	"state" text DEFAULT 'running' NOT NULL,
	"last_capture_seq" bigint DEFAULT 0 NOT NULL,
	"transcript" text DEFAULT '' NOT NULL,
	"exit" jsonb,
	"heartbeat_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ended_at" timestamp with time zone,
	"disposed_at" timestamp with time zone,
	CONSTRAINT "runner_executions_state_valid" CHECK ("runner_executions"."state" in ('running','succeeded','failed','stopped','failed_needs_human'))
);
--> statement-breakpoint
CREATE TABLE "artifacts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"run_id" uuid NOT NULL,
	"phase_id" uuid NOT NULL,
	"attempt" integer NOT NULL,
	"revision" integer NOT NULL,
	"schema_id" text NOT NULL,
	"path" text NOT NULL,
	"content" jsonb,
	"valid" boolean NOT NULL,
	"errors" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "phase_attempts" (
	"id" uuid PRIMARY KEY NOT NULL,
	"run_id" uuid NOT NULL,
	"phase_id" uuid NOT NULL,
	"attempt" integer NOT NULL,
	"state" text DEFAULT 'running' NOT NULL,
	"feedback" jsonb,
	"failure" jsonb,
	"cost_usd" double precision,
	"tokens" jsonb,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ended_at" timestamp with time zone,
	CONSTRAINT "phase_attempts_state_valid" CHECK ("phase_attempts"."state" in ('running','succeeded','failed','stopped','superseded'))
);
--> statement-breakpoint
CREATE TABLE "run_phases" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"run_id" uuid NOT NULL,
	"phase_key" text NOT NULL,
	"seq" integer NOT NULL,
	"title" text NOT NULL,
	"role" text NOT NULL,
	"artifact_schema" text,
	"gate_key" text,
	"instructions" text DEFAULT '' NOT NULL,
	"origin" text NOT NULL,
	"expands_plan" boolean DEFAULT false NOT NULL,
	"run_state" text NOT NULL,
	"max_attempts" integer NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"failure" jsonb,
	"started_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	CONSTRAINT "run_phases_state_valid" CHECK ("run_phases"."state" in ('pending','running','awaiting_approval','completed','failed','skipped'))
);
--> statement-breakpoint
CREATE TABLE "artifact_schemas" (
	"id" text PRIMARY KEY NOT NULL,
	"hash" text NOT NULL,
	"definition" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "personas" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"version" integer NOT NULL,
	"hash" text NOT NULL,
	"definition" jsonb NOT NULL,
	"body" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "personas_name_version" UNIQUE("name","version")
);
--> statement-breakpoint
CREATE TABLE "workflow_templates" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"version" integer NOT NULL,
	"hash" text NOT NULL,
	"definition" jsonb NOT NULL,
	"source" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "workflow_templates_name_version" UNIQUE("name","version")
);
--> statement-breakpoint
CREATE TABLE "run_bindings" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"run_id" uuid NOT NULL,
	"role" text NOT NULL,
	"persona" text NOT NULL,
	"agent" text
);
--> statement-breakpoint
CREATE TABLE "run_reports" (
	"run_id" uuid PRIMARY KEY NOT NULL,
	"status" text NOT NULL,
	"path" text NOT NULL,
	"json" jsonb NOT NULL,
	"markdown" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "runs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"repository" text NOT NULL,
	"repository_id" bigint,
	"installation_id" bigint,
	"issue_number" integer NOT NULL,
	"issue_title" text NOT NULL,
	"requirements" text NOT NULL,
	"base_branch" text NOT NULL,
	"branch" text NOT NULL,
	"clone_url" text,
	"template_id" uuid NOT NULL,
	"template_name" text NOT NULL,
	"template_version" integer NOT NULL,
	"template_hash" text NOT NULL,
	"state" text NOT NULL,
	"paused_from_state" text,
	"current_phase_id" uuid,
	"start_key" text NOT NULL,
	"input_hash" text NOT NULL,
	"agent_config" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"started_by" text,
	"failure" jsonb,
	"last_event_seq" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"admitted_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "runs_state_valid" CHECK ("runs"."state" in ('queued','planning','executing','awaiting_approval','paused','completed','failed','aborted')),
	CONSTRAINT "runs_paused_from_only_when_paused" CHECK (("runs"."state" = 'paused') = ("runs"."paused_from_state" is not null))
);
--> statement-breakpoint
ALTER TABLE "approval_decisions" ADD CONSTRAINT "approval_decisions_approval_request_id_approval_requests_id_fk" FOREIGN KEY ("approval_request_id") REFERENCES "public"."approval_requests"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "approval_requests" ADD CONSTRAINT "approval_requests_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "approval_requests" ADD CONSTRAINT "approval_requests_phase_id_run_phases_id_fk" FOREIGN KEY ("phase_id") REFERENCES "public"."run_phases"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "run_events" ADD CONSTRAINT "run_events_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "runner_executions" ADD CONSTRAINT "runner_executions_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "runner_executions" ADD CONSTRAINT "runner_executions_phase_id_run_phases_id_fk" FOREIGN KEY ("phase_id") REFERENCES "public"."run_phases"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "runner_executions" ADD CONSTRAINT "runner_executions_attempt_id_phase_attempts_id_fk" FOREIGN KEY ("attempt_id") REFERENCES "public"."phase_attempts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "artifacts" ADD CONSTRAINT "artifacts_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "artifacts" ADD CONSTRAINT "artifacts_phase_id_run_phases_id_fk" FOREIGN KEY ("phase_id") REFERENCES "public"."run_phases"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "phase_attempts" ADD CONSTRAINT "phase_attempts_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "phase_attempts" ADD CONSTRAINT "phase_attempts_phase_id_run_phases_id_fk" FOREIGN KEY ("phase_id") REFERENCES "public"."run_phases"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "run_phases" ADD CONSTRAINT "run_phases_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "run_bindings" ADD CONSTRAINT "run_bindings_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "run_reports" ADD CONSTRAINT "run_reports_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "runs" ADD CONSTRAINT "runs_template_id_workflow_templates_id_fk" FOREIGN KEY ("template_id") REFERENCES "public"."workflow_templates"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "approval_decisions_idempotency_key" ON "approval_decisions" USING btree ("idempotency_key");--> statement-breakpoint
CREATE UNIQUE INDEX "approval_decisions_one_per_request" ON "approval_decisions" USING btree ("approval_request_id");--> statement-breakpoint
CREATE UNIQUE INDEX "approval_requests_one_pending_per_gate" ON "approval_requests" USING btree ("run_id","gate_key") WHERE "approval_requests"."state" = 'pending';--> statement-breakpoint
CREATE UNIQUE INDEX "run_events_run_seq" ON "run_events" USING btree ("run_id","seq");--> statement-breakpoint
CREATE UNIQUE INDEX "run_events_idempotency_key" ON "run_events" USING btree ("idempotency_key");--> statement-breakpoint
CREATE UNIQUE INDEX "runner_executions_attempt_revision" ON "runner_executions" USING btree ("attempt_id","revision");--> statement-breakpoint
CREATE UNIQUE INDEX "artifacts_phase_attempt_revision" ON "artifacts" USING btree ("phase_id","attempt","revision");--> statement-breakpoint
CREATE UNIQUE INDEX "phase_attempts_phase_attempt" ON "phase_attempts" USING btree ("phase_id","attempt");--> statement-breakpoint
CREATE UNIQUE INDEX "run_phases_run_key" ON "run_phases" USING btree ("run_id","phase_key");--> statement-breakpoint
CREATE UNIQUE INDEX "run_phases_run_seq" ON "run_phases" USING btree ("run_id","seq");--> statement-breakpoint
CREATE UNIQUE INDEX "run_bindings_run_role" ON "run_bindings" USING btree ("run_id","role");--> statement-breakpoint
CREATE UNIQUE INDEX "runs_start_key" ON "runs" USING btree ("start_key");--> statement-breakpoint
CREATE UNIQUE INDEX "runs_one_active_per_issue" ON "runs" USING btree ("repository","issue_number") WHERE "runs"."state" not in ('completed', 'failed', 'aborted');--> statement-breakpoint
CREATE INDEX "runs_state_created" ON "runs" USING btree ("state","created_at");