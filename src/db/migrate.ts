import { fileURLToPath } from "node:url";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import type { Db } from "./client.ts";

const migrationsFolder = fileURLToPath(new URL("./migrations", import.meta.url));

/**
 * Applies the checked-in drizzle-kit migrations. Safe to run on every start:
 * drizzle records what it applied, and concurrent starts serialise on its table.
 */
export async function migrateDatabase({ db }: { db: Db }): Promise<void> {
  await migrate(db, { migrationsFolder });
}
