import { sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { artifactSchemas, personas, workflowTemplates } from "../db/schema/index.ts";
import type { Registry } from "./types.ts";

/**
 * Stores the loaded registry so runs can pin a template by id and hash. A changed
 * file replaces the stored definition; runs keep the hash they started with.
 */
export async function storeRegistry({ db, registry }: { db: Db; registry: Registry }) {
  await db.transaction(async (tx) => {
    for (const entry of registry.schemas.values()) {
      await tx
        .insert(artifactSchemas)
        .values({ id: entry.id, hash: entry.hash, definition: entry.definition })
        .onConflictDoUpdate({
          target: artifactSchemas.id,
          set: { hash: entry.hash, definition: entry.definition, updatedAt: sql`now()` },
          setWhere: sql`${artifactSchemas.hash} <> excluded.hash`,
        });
    }
    for (const entry of registry.personas.values()) {
      const { name, version } = entry.definition;
      await tx
        .insert(personas)
        .values({ name, version, hash: entry.hash, definition: entry.definition, body: entry.body })
        .onConflictDoUpdate({
          target: [personas.name, personas.version],
          set: {
            hash: entry.hash,
            definition: entry.definition,
            body: entry.body,
            updatedAt: sql`now()`,
          },
          setWhere: sql`${personas.hash} <> excluded.hash`,
        });
    }
    for (const entry of registry.templates.values()) {
      const { name, version } = entry.definition;
      await tx
        .insert(workflowTemplates)
        .values({
          name,
          version,
          hash: entry.hash,
          definition: entry.definition,
          source: entry.file,
        })
        .onConflictDoUpdate({
          target: [workflowTemplates.name, workflowTemplates.version],
          // The built-in row of that name: a repository's template of the same name is another row.
          targetWhere: sql`${workflowTemplates.repositoryId} is null`,
          set: {
            hash: entry.hash,
            definition: entry.definition,
            source: entry.file,
            updatedAt: sql`now()`,
          },
          setWhere: sql`${workflowTemplates.hash} <> excluded.hash`,
        });
    }
  });
}
