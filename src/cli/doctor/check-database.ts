import { constants } from "node:fs";
import { access, mkdir } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { APPLIED_MIGRATIONS_TABLE, knownMigrations } from "../../db/migrate.ts";
import { runningEmbeddedUrl } from "../../db/open-database-url.ts";
import type { Settings } from "../../settings.ts";
import type { Check } from "./check.ts";

/**
 * The database devflow would use: DATABASE_URL's server (reachable, migrated,
 * with pg-boss's schema), a running embedded PostgreSQL, or a data directory
 * where `devflow start` can create one.
 */
export async function checkDatabase(settings: Settings): Promise<Check[]> {
  let url = settings.databaseUrl;
  if (url === undefined) {
    url = await runningEmbeddedUrl(settings.dataDir);
    if (url === undefined) {
      try {
        await mkdir(settings.dataDir, { recursive: true });
        await access(settings.dataDir, constants.W_OK);
      } catch (error) {
        return [
          {
            name: "database",
            status: "fail",
            detail: `DEVFLOW_DATA_DIR ${settings.dataDir} is not writable: ${(error as Error).message}`,
            fix: "point DEVFLOW_DATA_DIR at a writable directory, or set DATABASE_URL to a PostgreSQL server",
          },
        ];
      }
      return [
        {
          name: "database",
          status: "ok",
          detail: `embedded PostgreSQL under ${join(settings.dataDir, "postgres")}, started by devflow start (not running now)`,
        },
      ];
    }
  }
  const shown = url.replace(/\/\/[^@/]*@/, "//***@");
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  // A server that terminates the connection (a restart, an administrator) says so as an
  // 'error' event, which would end doctor without a listener; the query it interrupts,
  // if any, fails on its own.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (error) {
    return [
      {
        name: "database",
        status: "fail",
        detail: `cannot connect to ${shown}: ${(error as Error).message}`,
        fix: "check DATABASE_URL (postgres://USER:PASSWORD@HOST:5432/DATABASE) and that the server accepts connections from here",
      },
    ];
  }
  try {
    const checks: Check[] = [];
    const version = await client.query<{ v: string }>(
      "select current_setting('server_version') as v",
    );
    checks.push({
      name: "database",
      status: "ok",
      detail: `PostgreSQL ${version.rows[0]?.v} at ${shown}`,
    });
    const known = knownMigrations();
    const applied = await client
      .query<{ n: string }>(`select count(*) as n from ${APPLIED_MIGRATIONS_TABLE}`)
      .then((result) => Number(result.rows[0]?.n ?? 0))
      .catch(() => 0);
    checks.push(
      applied === known
        ? { name: "migrations", status: "ok", detail: `all ${known} applied` }
        : applied < known
          ? {
              name: "migrations",
              status: "warn",
              detail: `${applied} of ${known} applied`,
              fix: "run devflow migrate (devflow start applies them too)",
            }
          : {
              name: "migrations",
              status: "fail",
              detail: `the database has ${applied} migrations, this devflow knows ${known}`,
              fix: "a newer devflow migrated this database: run that version (README.md, Upgrading)",
            },
    );
    const queue = await client
      .query<{ version: number }>("select version from pgboss.version")
      .then((result) => result.rows[0]?.version)
      .catch(() => undefined);
    checks.push(
      queue === undefined
        ? {
            name: "job queue",
            status: "warn",
            detail: "pg-boss has no schema in this database yet",
            fix: "devflow start or devflow worker creates it on first start",
          }
        : { name: "job queue", status: "ok", detail: `pg-boss schema version ${queue}` },
    );
    return checks;
  } finally {
    await client.end().catch(() => {});
  }
}
