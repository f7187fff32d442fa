import { integer, jsonb, pgTable, text, timestamp, unique, uuid } from "drizzle-orm/pg-core";

/** Workflow templates loaded from `templates/`, stored with the hash a run pins. */
export const workflowTemplates = pgTable(
  "workflow_templates",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: text("name").notNull(),
    version: integer("version").notNull(),
    hash: text("hash").notNull(),
    definition: jsonb("definition").notNull(),
    source: text("source").notNull(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [unique("workflow_templates_name_version").on(t.name, t.version)],
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
