import { readFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import type { Logger } from "pino";
import { DevflowError } from "../errors.ts";
import type { Settings } from "../settings.ts";
import { embeddedUrl, startEmbeddedPostgres } from "./embedded-postgres.ts";

export interface OpenedDatabase {
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

/**
 * `DATABASE_URL` when it is set; otherwise an embedded PostgreSQL whose data
 * lives under the data directory and survives restarts.
 */
export async function openDatabaseUrl({
  settings,
  log,
  embedded = "start",
}: {
  settings: Settings;
  log: Logger;
  /**
   * Without DATABASE_URL: `start` the embedded cluster (`devflow start`); `join` the
   * one a running devflow started, or fail (`devflow worker`); or join it when it
   * runs and start it for the moment otherwise (`devflow runs`).
   */
  embedded?: "start" | "join" | "join-or-start";
}): Promise<OpenedDatabase> {
  if (settings.databaseUrl !== undefined) {
    return { url: settings.databaseUrl, embedded: false, stop: async () => {} };
  }
  if (embedded !== "start") {
    const running = await runningEmbeddedUrl(settings.dataDir);
    if (running !== undefined) return { url: running, embedded: true, stop: async () => {} };
    if (embedded === "join") {
      throw new DevflowError(`no devflow is running on ${settings.dataDir} to join`, {
        class: "fatal",
        code: "no_database_to_join",
        recoveryHint: `set DATABASE_URL to the devflow server's PostgreSQL, or run devflow start on ${settings.dataDir} first`,
      });
    }
  }
  log.info(
    { dataDir: settings.dataDir, port: settings.embeddedPostgresPort },
    "starting embedded PostgreSQL",
  );
  const cluster = await startEmbeddedPostgres({
    dataDir: settings.dataDir,
    port: settings.embeddedPostgresPort,
    persistent: true,
    durable: true,
    onLog: (message) => log.debug({ postgres: message.trim() }, "postgres"),
  });
  await cluster.createDatabase("devflow");
  return { url: cluster.url("devflow"), embedded: true, stop: () => cluster.stop() };
}

/**
 * The URL of the embedded cluster already serving `dataDir`, if one is: its
 * postmaster.pid names the port, and a connection there proves it is up.
 */
export async function runningEmbeddedUrl(dataDir: string): Promise<string | undefined> {
  let pidFile: string;
  try {
    pidFile = await readFile(join(dataDir, "postgres", "postmaster.pid"), "utf8");
  } catch {
    return undefined;
  }
  // Line 4 of postmaster.pid is the port the postmaster listens on.
  const port = Number(pidFile.split("\n")[3]);
  if (!Number.isInteger(port) || port <= 0) return undefined;
  const url = embeddedUrl(port, "devflow");
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return url;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}
