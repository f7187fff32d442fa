import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_EMBEDDED_PORT } from "../../src/db/open-database-url.ts";
import { runDevflow, spawnDevflow, waitForHealthy } from "../helpers/cli-process.ts";
import { tempDir } from "../helpers/git-fixtures.ts";
import { freePort } from "../helpers/github-fixtures.ts";
import { tcpProxy } from "../helpers/tcp-proxy.ts";
import { createTestDatabase } from "../helpers/test-database.ts";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Holds `port` on loopback (as another program would) until the test ends; false if someone else already does. */
async function occupy(port: number): Promise<boolean> {
  const server: Server = createServer();
  const held = await new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => resolve(true));
  });
  if (held) cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return held;
}

const baseEnv = () => ({
  DEVFLOW_AGENT: "scripted",
  DEVFLOW_RUNNER: "in-process",
});

const postmasterPid = (dataDir: string) => join(dataDir, "postgres", "postmaster.pid");

describe("devflow start and stop, as an operator meets them", () => {
  it("picks a free port for its embedded PostgreSQL when the default is taken, remembers it, and the CLI finds it running and stopped", async () => {
    // Another devflow (or anything else) holds the default port.
    await occupy(DEFAULT_EMBEDDED_PORT);
    const dataDir = tempDir("port-taken");
    const port = await freePort();
    const env = { ...baseEnv(), DEVFLOW_DATA_DIR: dataDir, PORT: String(port) };
    const devflow = spawnDevflow(["start"], env);
    cleanups.push(() => devflow.kill());
    await waitForHealthy(port, devflow);
    const remembered = Number(readFileSync(join(dataDir, "embedded-postgres.port"), "utf8"));
    expect(remembered).not.toBe(DEFAULT_EMBEDDED_PORT);
    expect(devflow.output()).toContain("the embedded PostgreSQL's port is taken");

    const whileRunning = await runDevflow(["runs", "list"], env);
    expect(whileRunning.stderr).toBe("");
    expect(whileRunning.code).toBe(0);

    devflow.child.kill("SIGTERM");
    expect(await devflow.exited, devflow.output()).toBe(0);
    expect(devflow.output()).not.toMatch(/Unhandled|uncaught/i);
    expect(existsSync(postmasterPid(dataDir))).toBe(false);
    // Stopped, the CLI starts the same cluster on the remembered port for itself.
    const afterwards = await runDevflow(["runs", "list"], env);
    expect(afterwards.stderr).toBe("");
    expect(afterwards.code).toBe(0);
  }, 120_000);

  it("says which port is taken and which setting fixes it when DEVFLOW_EMBEDDED_PG_PORT is busy", async () => {
    const pgPort = await freePort();
    expect(await occupy(pgPort)).toBe(true);
    const dataDir = tempDir("port-set");
    const result = await runDevflow(["start"], {
      ...baseEnv(),
      DEVFLOW_DATA_DIR: dataDir,
      DEVFLOW_EMBEDDED_PG_PORT: String(pgPort),
      PORT: String(await freePort()),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).not.toContain("undefined");
    expect(result.stderr).toContain(`the embedded PostgreSQL did not start on port ${pgPort}`);
    expect(result.stderr).toContain(
      `fix: port ${pgPort} is taken by another program: set DEVFLOW_EMBEDDED_PG_PORT`,
    );
  }, 120_000);

  it("when its own port is taken, says so, and stops the embedded PostgreSQL it had started", async () => {
    const port = await freePort();
    expect(await occupy(port)).toBe(true);
    const dataDir = tempDir("http-taken");
    const result = await runDevflow(["start"], {
      ...baseEnv(),
      DEVFLOW_DATA_DIR: dataDir,
      DEVFLOW_EMBEDDED_PG_PORT: String(await freePort()),
      PORT: String(port),
    });
    expect(result.code).toBe(1);
    // Said by devflow, or by Probot's setup server when the app is not registered yet.
    expect(result.stderr).toMatch(new RegExp(`port ${port} is already in use`, "i"));
    expect(result.stderr).toMatch(/PORT (environment variable|to a free one)/);
    expect(existsSync(join(dataDir, "postgres", "PG_VERSION"))).toBe(true);
    expect(existsSync(postmasterPid(dataDir))).toBe(false);
  }, 120_000);

  it("names the database it cannot reach and how to fix it", async () => {
    const result = await runDevflow(["start"], {
      ...baseEnv(),
      DATABASE_URL: `postgres://devflow:hunter2@127.0.0.1:${await freePort()}/devflow`,
      DEVFLOW_DATA_DIR: tempDir("no-db"),
      PORT: String(await freePort()),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      "cannot use the database at DATABASE_URL=postgres://devflow:***@",
    );
    expect(result.stderr).toContain("nothing listens there");
    expect(result.stderr).toContain("fix: start that PostgreSQL or correct DATABASE_URL");
    expect(result.stderr).not.toContain("hunter2");
  }, 60_000);

  it("rides out its database going away, then stops with exit code 0 and no unhandled error", async () => {
    const direct = new URL(await createTestDatabase());
    const proxy = await tcpProxy({ host: direct.hostname, port: Number(direct.port) });
    cleanups.push(() => proxy.close());
    const proxied = new URL(direct);
    proxied.port = String(proxy.port);
    const port = await freePort();
    const devflow = spawnDevflow(["start"], {
      ...baseEnv(),
      DATABASE_URL: proxied.toString(),
      DEVFLOW_DATA_DIR: tempDir("db-away"),
      PORT: String(port),
    });
    cleanups.push(() => devflow.kill());
    await waitForHealthy(port, devflow);
    // Every connection cut at once (57P01 and friends), new ones refused for a while.
    await proxy.refuse();
    await sleep(6_000);
    expect(devflow.child.exitCode).toBeNull();
    await proxy.restore();
    await waitForHealthy(port, devflow, 60_000);
    devflow.child.kill("SIGTERM");
    expect(await devflow.exited, devflow.output()).toBe(0);
    expect(devflow.output()).toContain('"msg":"stopped"');
    expect(devflow.output()).not.toMatch(/Unhandled|uncaught/i);
  }, 120_000);

  it("after a SIGKILL, the next start takes over the PostgreSQL the dead one left running and stops it at the end", async () => {
    const dataDir = tempDir("leftover");
    const port = await freePort();
    const env = {
      ...baseEnv(),
      DEVFLOW_DATA_DIR: dataDir,
      DEVFLOW_EMBEDDED_PG_PORT: String(await freePort()),
      PORT: String(port),
    };
    const first = spawnDevflow(["start"], env);
    cleanups.push(() => first.kill());
    await waitForHealthy(port, first);
    await first.kill();
    // PostgreSQL outlived it.
    expect(existsSync(postmasterPid(dataDir))).toBe(true);
    const second = spawnDevflow(["start"], env);
    cleanups.push(() => second.kill());
    await waitForHealthy(port, second);
    expect(second.output()).toContain("left running by a devflow that died");
    second.child.kill("SIGTERM");
    expect(await second.exited, second.output()).toBe(0);
    expect(existsSync(postmasterPid(dataDir))).toBe(false);
  }, 120_000);
});
