import type { Logger } from "pino";
import type { Settings } from "../settings.ts";
import { startEmbeddedPostgres } from "./embedded-postgres.ts";

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
}: {
  settings: Settings;
  log: Logger;
}): Promise<OpenedDatabase> {
  if (settings.databaseUrl !== undefined) {
    return { url: settings.databaseUrl, embedded: false, stop: async () => {} };
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
