import { PgBoss } from "pg-boss";
import { createDatabase } from "../db/client.ts";
import { openDatabaseUrl } from "../db/open-database-url.ts";
import { createEngine, type Engine } from "../engine/create-engine.ts";
import { DevflowError } from "../errors.ts";
import { createLogger } from "../log.ts";
import { loadRegistry } from "../registry/load-registry.ts";
import type { Settings } from "../settings.ts";

/**
 * The engine for one short command (`devflow runs …`): against DATABASE_URL, or
 * the embedded cluster a running devflow serves (started for the command when
 * none is running). pg-boss only enqueues here; the running workers act.
 */
export async function withEngine<T>(
  settings: Settings,
  fn: (engine: Engine) => Promise<T>,
): Promise<T> {
  const log = createLogger({ level: "warn", role: "cli", stderr: true });
  const opened = await openDatabaseUrl({ settings, log, embedded: "join-or-start" });
  const database = createDatabase({ url: opened.url, max: 2 });
  const boss = new PgBoss({
    connectionString: opened.url,
    max: 2,
    supervise: false,
    schedule: false,
    migrate: false,
    createSchema: false,
  });
  boss.on("error", (error: unknown) => log.error({ err: error }, "pg-boss error"));
  try {
    const { rows } = await database.pool.query<{ runs: string | null }>(
      "select to_regclass('public.runs')::text as runs",
    );
    if (rows[0]?.runs == null) {
      throw new DevflowError(
        `the database has no devflow tables yet (${opened.embedded ? `embedded, under ${settings.dataDir}` : "DATABASE_URL"})`,
        {
          class: "fatal",
          code: "database_empty",
          recoveryHint: "start devflow once (devflow start), or run devflow migrate",
        },
      );
    }
    await boss.start();
    const engine = createEngine({
      db: database.db,
      boss,
      registry: loadRegistry(),
      limits: {
        maxActiveRuns: settings.maxActiveRuns,
        maxActiveRunsPerRepository: settings.maxActiveRunsPerRepository,
      },
      log,
    });
    return await fn(engine);
  } finally {
    await boss.stop({ graceful: false, timeout: 1000 }).catch(() => {});
    await database.close();
    await opened.stop();
  }
}
