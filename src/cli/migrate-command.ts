import { createDatabase } from "../db/client.ts";
import { migrateDatabase } from "../db/migrate.ts";
import { openDatabaseUrl } from "../db/open-database-url.ts";
import { createLogger } from "../log.ts";
import { loadRegistry } from "../registry/load-registry.ts";
import { storeRegistry } from "../registry/store-registry.ts";
import type { Settings } from "../settings.ts";

/** Applies the migrations and stores the registry, then exits. */
export async function migrateCommand({ settings }: { settings: Settings }): Promise<void> {
  const log = createLogger({ level: settings.logLevel, role: "migrate" });
  const registry = loadRegistry();
  const opened = await openDatabaseUrl({ settings, log });
  const database = createDatabase({ url: opened.url, max: 2 });
  try {
    await migrateDatabase({ db: database.db });
    await storeRegistry({ db: database.db, registry });
    log.info(
      { templates: [...registry.templates.keys()], schemas: registry.schemas.size },
      "database is up to date",
    );
  } finally {
    await database.close();
    await opened.stop();
  }
}
