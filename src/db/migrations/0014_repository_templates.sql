ALTER TABLE "workflow_templates" DROP CONSTRAINT "workflow_templates_name_version";--> statement-breakpoint
ALTER TABLE "workflow_templates" ADD COLUMN "repository_id" bigint;--> statement-breakpoint
ALTER TABLE "run_bindings" ADD COLUMN "persona_hash" text;--> statement-breakpoint
ALTER TABLE "run_bindings" ADD COLUMN "persona_body" text;--> statement-breakpoint
CREATE UNIQUE INDEX "workflow_templates_builtin_name_version" ON "workflow_templates" USING btree ("name","version") WHERE "workflow_templates"."repository_id" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "workflow_templates_repository_content" ON "workflow_templates" USING btree ("repository_id","name","version","hash") WHERE "workflow_templates"."repository_id" is not null;