import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import type { Logger } from "pino";
import { DevflowError } from "../errors.ts";
import { embeddedUrl } from "./embedded-postgres.ts";
import { readProcess } from "./read-process.ts";

/** A cluster a devflow that died left running, answering at `url`: to take over. */
export interface LeftRunning {
  url: string;
  pid: number;
}

/** A holder on its way out: what it is, why it is still there, and what to do if it never goes. */
interface Going {
  pid: number;
  what: string;
  why: string;
  fix: string;
}

export interface WaitForDataDirOptions {
  dataDir: string;
  log: Logger;
  timeoutMs?: number;
}

const WAIT_MS = 30_000;

/**
 * Waits, up to 30 s, until the process that postmaster.pid in `dataDir` names has
 * gone or holds the cluster for good. A devflow that died (a crash, SIGKILL, an OOM
 * kill) may leave a postmaster that is still shutting down, or that has exited and
 * is a zombie until its parent reaps it: either way its pid exists, and PostgreSQL
 * refuses to start on the data dir ("lock file … already exists") although nothing
 * will serve it. A supervisor that restarts devflow at once meets exactly that.
 * Says in the log what it waits for; past the bound, fails saying what still holds
 * the data dir and how to make it go. Resolves to the cluster a dead devflow left
 * serving the data dir, if one does; otherwise a cluster may be started (PostgreSQL
 * judging, as ever, a lock file whose process will not go: a living devflow's).
 */
export async function waitForDataDir({
  dataDir,
  log,
  timeoutMs = WAIT_MS,
}: WaitForDataDirOptions): Promise<LeftRunning | undefined> {
  const deadline = Date.now() + timeoutMs;
  let said: string | undefined;
  for (;;) {
    const holder = await lookAtLockFile(join(dataDir, "postgres"));
    if (holder === undefined || "url" in holder) return holder;
    if (holder.why !== said) {
      said = holder.why;
      log.warn(
        { dataDir, pid: holder.pid },
        `before starting the embedded PostgreSQL, waiting up to ${timeoutMs / 1000} s for ${holder.what} to go: ${holder.why}`,
      );
    }
    if (Date.now() >= deadline) {
      throw new DevflowError(
        `the embedded PostgreSQL cannot start on ${dataDir}: ${holder.what} did not go within ${timeoutMs / 1000} s (${holder.why})`,
        { class: "fatal", code: "embedded_postgres_held", recoveryHint: holder.fix },
      );
    }
    await sleep(200);
  }
}

/**
 * What postmaster.pid in `databaseDir` names: a process on its way out, a cluster left
 * running, or neither (no lock file, a stale one, a living devflow's cluster).
 */
async function lookAtLockFile(databaseDir: string): Promise<LeftRunning | Going | undefined> {
  const lockPath = join(databaseDir, "postmaster.pid");
  let lines: string[];
  try {
    lines = (await readFile(lockPath, "utf8")).split("\n");
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  // A lock file being written, or not PostgreSQL's: PostgreSQL judges it itself.
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const postmaster = await readProcess(pid);
  if (postmaster === undefined) {
    // Gone: a stale lock file PostgreSQL removes itself, unless processes of the dead
    // postmaster still hold its shared memory (they exit once they notice it died).
    const shmid = Number(lines[6]?.trim().split(/\s+/)[1]);
    if ((await attachedProcesses(shmid, pid)) > 0) {
      return {
        pid,
        what: `the processes of the PostgreSQL whose postmaster (pid ${pid}) died`,
        why: `they still hold its shared memory (id ${shmid})`,
        fix: `stop what is left of that PostgreSQL (ps -u postgres; they hold shared memory segment ${shmid}, see ipcs -m), then start devflow again`,
      };
    }
    return undefined;
  }
  if (postmaster.state === "Z") {
    const parent = postmaster.parent;
    const name = (await readProcess(parent))?.name ?? "";
    return {
      pid,
      what: `the postmaster in postmaster.pid (pid ${pid})`,
      why: `it has exited, not reaped yet by its parent (pid ${parent}${name === "" ? "" : `, ${name}`})`,
      fix:
        parent === 1
          ? `the init process (pid 1) does not reap exited processes: run devflow under an init that does (docker run --init, tini), or delete ${lockPath} once no process of that PostgreSQL is left (ps -u postgres)`
          : `process ${parent} does not reap its exited child ${pid}: restart or stop it, or delete ${lockPath} once no process of that PostgreSQL is left (ps -u postgres)`,
    };
  }
  // A pid now used by something else: PostgreSQL judges whether that stops it.
  if (postmaster.name !== "postgres" && postmaster.name !== "") return undefined;
  if (lines[7]?.trim() === "stopping") {
    return {
      pid,
      what: `the PostgreSQL on the data dir (pid ${pid})`,
      why: "it is shutting down",
      fix: `it is still shutting down, waiting for its clients to disconnect or for its checkpoint: end its connections, or stop it at once with kill -INT ${pid}`,
    };
  }
  // A living devflow's cluster is that devflow's: starting fails, PostgreSQL saying why.
  // Without /proc the parent is unknown, and so is whether it is a devflow.
  if (postmaster.parent === 0 || (await isDevflow(postmaster.parent))) return undefined;
  const port = Number(lines[3]);
  const url = await answeringUrl(port);
  if (url !== undefined) return { url, pid };
  return {
    pid,
    what: `the PostgreSQL a devflow left running (pid ${pid})`,
    why: `it does not accept connections on port ${port} yet`,
    fix: `it neither answers on port ${port} nor stops: stop it (kill -INT ${pid}) and start devflow again`,
  };
}

/** The URL of the cluster answering on `port` (a connection there proves it is up). */
export async function answeringUrl(port: number): Promise<string | undefined> {
  if (!Number.isInteger(port) || port <= 0) return undefined;
  const url = embeddedUrl(port, "devflow");
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  // A server that is stopping may terminate this connection as soon as it is made.
  client.on("error", () => {});
  try {
    await client.connect();
    return url;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Whether process `pid` is a devflow (`devflow start`, `node …/bin/devflow.js start`):
 * a cluster whose devflow lives is that devflow's. An orphaned postmaster's parent is
 * init or a subreaper instead.
 */
async function isDevflow(pid: number): Promise<boolean> {
  if (pid <= 1) return false;
  const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0");
  return argv.slice(0, 3).some((arg) => /^devflow(\.js)?$/.test(basename(arg)));
}

/**
 * How many processes have attached the shared memory segment `shmid` that postmaster
 * `creator` made (0 when there is none: removed, or the id now another's).
 */
async function attachedProcesses(shmid: number, creator: number): Promise<number> {
  if (!Number.isInteger(shmid) || shmid < 0) return 0;
  const table = await readFile("/proc/sysvipc/shm", "utf8").catch(() => "");
  for (const row of table.split("\n").slice(1)) {
    // key shmid perms size cpid lpid nattch …
    const columns = row.trim().split(/\s+/);
    if (Number(columns[1]) === shmid && Number(columns[4]) === creator) return Number(columns[6]);
  }
  return 0;
}
