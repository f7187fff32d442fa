import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { embeddedUrl } from "../../src/db/embedded-postgres.ts";
import { type DevflowProcess, spawnDevflow, waitForHealthy } from "../helpers/cli-process.ts";
import { tempDir } from "../helpers/git-fixtures.ts";
import { freePort } from "../helpers/github-fixtures.ts";
import { terminateOnCloseProxy } from "../helpers/terminate-on-close-proxy.ts";
import { createTestDatabase } from "../helpers/test-database.ts";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const baseEnv = () => ({
  DEVFLOW_AGENT: "scripted",
  DEVFLOW_RUNNER: "in-process",
  DEVFLOW_STOP_GRACE_SECONDS: "10",
});

async function startDevflow(env: Record<string, string>): Promise<DevflowProcess> {
  const devflow = spawnDevflow(["start"], env);
  cleanups.push(() => devflow.kill());
  await waitForHealthy(Number(env.PORT), devflow);
  return devflow;
}

/** SIGTERM, then its exit code, or "still running" when it has not exited within `ms`. */
async function stopDevflow(devflow: DevflowProcess, ms = 45_000) {
  devflow.child.kill("SIGTERM");
  return Promise.race([devflow.exited, sleep(ms).then(() => "still running" as const)]);
}

/** What a clean stop looks like to a supervisor. */
function expectCleanStop(devflow: DevflowProcess, exit: unknown) {
  expect(exit, devflow.output()).toBe(0);
  expect(devflow.output()).toContain('"msg":"stopped"');
  expect(devflow.output()).not.toMatch(/Unhandled|uncaught/i);
}

describe("devflow stops with exit 0 whatever its PostgreSQL does meanwhile", () => {
  it("when PostgreSQL terminates each connection as devflow closes it (three stops)", async () => {
    const proxy = await terminateOnCloseProxy(await createTestDatabase());
    cleanups.push(() => proxy.close());
    for (let round = 0; round < 3; round++) {
      const devflow = await startDevflow({
        ...baseEnv(),
        DATABASE_URL: proxy.url,
        DEVFLOW_DATA_DIR: tempDir("terminated-stop"),
        PORT: String(await freePort()),
      });
      const before = proxy.terminated.length;
      const exit = await stopDevflow(devflow);
      expectCleanStop(devflow, exit);
      // The stop closed connections of both pools and the job notifications' own one,
      // and PostgreSQL terminated every one of them as it went.
      expect(proxy.terminated.length - before, `round ${round}`).toBeGreaterThanOrEqual(3);
    }
  }, 180_000);

  it("when every backend of its embedded PostgreSQL is terminated right as SIGTERM arrives (four stops)", async () => {
    const dataDir = tempDir("terminate-at-sigterm");
    const pgPort = await freePort();
    for (let round = 0; round < 4; round++) {
      const devflow = await startDevflow({
        ...baseEnv(),
        DEVFLOW_DATA_DIR: dataDir,
        DEVFLOW_EMBEDDED_PG_PORT: String(pgPort),
        PORT: String(await freePort()),
      });
      const admin = new pg.Client({ connectionString: embeddedUrl(pgPort, "postgres") });
      admin.on("error", () => {});
      await admin.connect();
      // The first termination is on its way as SIGTERM is sent; then, until the
      // postmaster stops, devflow's connections, old and new, are cut as it stops.
      const cutting = (async () => {
        let terminated = 0;
        while (devflow.child.exitCode === null) {
          const result = await admin
            .query<{ n: string }>(
              "select count(*) filter (where pg_terminate_backend(pid)) as n from pg_stat_activity where datname = 'devflow' and pid <> pg_backend_pid()",
            )
            .catch(() => undefined);
          if (result === undefined) break;
          terminated += Number(result.rows[0]?.n);
        }
        return terminated;
      })();
      const exit = stopDevflow(devflow);
      const terminated = await cutting;
      await admin.end().catch(() => {});
      expectCleanStop(devflow, await exit);
      expect(terminated, `round ${round}`).toBeGreaterThan(0);
    }
  }, 240_000);

  it("when its embedded PostgreSQL was stopped before devflow is", async () => {
    const dataDir = tempDir("postgres-first");
    const devflow = await startDevflow({
      ...baseEnv(),
      DEVFLOW_DATA_DIR: dataDir,
      DEVFLOW_EMBEDDED_PG_PORT: String(await freePort()),
      PORT: String(await freePort()),
    });
    const postmaster = Number(
      readFileSync(join(dataDir, "postgres", "postmaster.pid"), "utf8").split("\n")[0],
    );
    // A fast shutdown, as Ctrl-C in a terminal sends it to the whole process group:
    // every connection gets 57P01, then the server is gone.
    process.kill(postmaster, "SIGINT");
    for (;;) {
      try {
        process.kill(postmaster, 0);
      } catch {
        break;
      }
      await sleep(50);
    }
    const exit = await stopDevflow(devflow);
    expectCleanStop(devflow, exit);
  }, 120_000);
});
