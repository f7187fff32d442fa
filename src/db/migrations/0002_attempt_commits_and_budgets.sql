ALTER TABLE "phase_attempts" ADD COLUMN "commit_sha" text;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "budget_usd" double precision;