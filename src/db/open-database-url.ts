import { readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { DevflowError } from "../errors.ts";
import type { Settings } from "../settings.ts";
import { startEmbeddedPostgres } from "./embedded-postgres.ts";
import { readProcess } from "./read-process.ts";
import { answeringUrl, waitForDataDir } from "./wait-for-data-dir.ts";

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
  // A devflow that just died may have left its PostgreSQL running, or going.
  const leftover = await waitForDataDir({ dataDir: settings.dataDir, log });
  if (leftover !== undefined) {
    if (embedded !== "start") return { url: leftover.url, embedded: true, stop: async () => {} };
    log.warn(
      { dataDir: settings.dataDir, pid: leftover.pid },
      "an embedded PostgreSQL left running by a devflow that died still serves the data dir: using it, and stopping it when devflow stops",
    );
    return { url: leftover.url, embedded: true, stop: () => stopPostmaster(leftover.pid) };
  }
  const port = await embeddedPort(settings, log);
  log.info({ dataDir: settings.dataDir, port }, "starting embedded PostgreSQL");
  const cluster = await startEmbeddedPostgres({
    dataDir: settings.dataDir,
    port,
    persistent: true,
    durable: true,
    onLog: (message) => log.debug({ postgres: message.trim() }, "postgres"),
  });
  if (settings.embeddedPostgresPort === undefined) {
    await writeFile(join(settings.dataDir, PORT_FILE), `${port}\n`);
  }
  await cluster.createDatabase("devflow");
  return { url: cluster.url("devflow"), embedded: true, stop: () => cluster.stop() };
}

/** Where devflow remembers the port it picked for the embedded cluster of a data dir. */
const PORT_FILE = "embedded-postgres.port";
export const DEFAULT_EMBEDDED_PORT = 54329;

/**
 * DEVFLOW_EMBEDDED_PG_PORT when set (taken or not: the operator chose it). Otherwise
 * the port this data dir used last, else 54329; when that is taken (another devflow
 * on this machine), a free one, remembered in the data dir so that `devflow runs`
 * and the next start find the same cluster.
 */
async function embeddedPort(settings: Settings, log: Logger): Promise<number> {
  if (settings.embeddedPostgresPort !== undefined) return settings.embeddedPostgresPort;
  const remembered = Number(
    (await readFile(join(settings.dataDir, PORT_FILE), "utf8").catch(() => "")).trim(),
  );
  const preferred =
    Number.isInteger(remembered) && remembered > 0 ? remembered : DEFAULT_EMBEDDED_PORT;
  if (await portIsFree(preferred)) return preferred;
  const port = await portIsFree(0);
  log.warn(
    { taken: preferred, port },
    "the embedded PostgreSQL's port is taken (another devflow on this machine?): using a free one, remembered in the data dir",
  );
  return port;
}

/** Whether `port` can be listened on at loopback; with 0, a port that can (as a number). */
function portIsFree(port: number): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(0));
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      const bound = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(bound));
    });
  });
}

/**
 * A fast shutdown of a postmaster devflow did not start, waiting (bounded) until it is
 * gone: exited, reaped or not (its parent, init or a subreaper, reaps it, not devflow).
 */
async function stopPostmaster(pid: number): Promise<void> {
  try {
    process.kill(pid, "SIGINT");
  } catch {
    return;
  }
  for (let waited = 0; waited < 30_000; waited += 100) {
    const postmaster = await readProcess(pid);
    if (postmaster === undefined || postmaster.state === "Z") return;
    await sleep(100);
  }
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
  return answeringUrl(Number(pidFile.split("\n")[3]));
}
