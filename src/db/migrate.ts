import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import type { Db } from "./client.ts";

const migrationsFolder = fileURLToPath(new URL("./migrations", import.meta.url));

/** Where drizzle records the migrations it applied. */
export const APPLIED_MIGRATIONS_TABLE = "drizzle.__drizzle_migrations";

/** How many migrations this version of devflow has (drizzle-kit's journal). */
export function knownMigrations(): number {
  const journal = JSON.parse(
    readFileSync(join(migrationsFolder, "meta", "_journal.json"), "utf8"),
  ) as { entries: unknown[] };
  return journal.entries.length;
}

/**
 * Applies the checked-in drizzle-kit migrations. Safe to run on every start:
 * drizzle records what it applied, and concurrent starts serialise on its table.
 */
export async function migrateDatabase({ db }: { db: Db }): Promise<void> {
  await migrate(db, { migrationsFolder });
}
