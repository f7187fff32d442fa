ALTER TABLE "phase_attempts" ADD COLUMN "egress_denied" jsonb;--> statement-breakpoint
ALTER TABLE "run_phases" ADD COLUMN "egress_denied" jsonb;