import { sql } from "drizzle-orm";
import {
  bigint,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  unique,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";

/**
 * Workflow templates, stored with the hash a run pins. Built-in ones (from
 * `templates/`, `repository_id` null) are one row per name and version, replaced
 * when the file changes. A repository's own (`.github/devflow/templates/`) are
 * scoped to it by GitHub's repository id and never replaced: one row per content
 * a run started from, so a run keeps what it used whatever the repository's file
 * says later, and no repository's template stands in for another's or a built-in.
 */
export const workflowTemplates = pgTable(
  "workflow_templates",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: text("name").notNull(),
    version: integer("version").notNull(),
    hash: text("hash").notNull(),
    definition: jsonb("definition").notNull(),
    source: text("source").notNull(),
    /** GitHub's id of the repository whose template this is; null: built in. */
    repositoryId: bigint("repository_id", { mode: "number" }),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("workflow_templates_builtin_name_version")
      .on(t.name, t.version)
      .where(sql`${t.repositoryId} is null`),
    uniqueIndex("workflow_templates_repository_content")
      .on(t.repositoryId, t.name, t.version, t.hash)
      .where(sql`${t.repositoryId} is not null`),
  ],
);

/** Agent personas loaded from `templates/personas/`. */
export const personas = pgTable(
  "personas",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: text("name").notNull(),
    version: integer("version").notNull(),
    hash: text("hash").notNull(),
    definition: jsonb("definition").notNull(),
    body: text("body").notNull(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [unique("personas_name_version").on(t.name, t.version)],
);

/** JSON Schemas loaded from `schemas/`, keyed by `<family>/<name>@<version>`. */
export const artifactSchemas = pgTable("artifact_schemas", {
  id: text("id").primaryKey(),
  hash: text("hash").notNull(),
  definition: jsonb("definition").notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});
