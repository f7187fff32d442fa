import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { PgBoss } from "pg-boss";
import type { TestProject } from "vitest/node";
import { createDatabase } from "../../src/db/client.ts";
import { startEmbeddedPostgres } from "../../src/db/embedded-postgres.ts";
import { migrateDatabase } from "../../src/db/migrate.ts";
import { type ExecutionProcess, executionProcesses, killAll } from "./execution-processes.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** A server URL without a database name: test files create their own databases on it. */
    pgServerUrl: string;
    pgTemplate: string;
  }
}

const TEMPLATE = "devflow_test_template";

/**
 * One PostgreSQL for the whole test run: `DATABASE_URL`'s server when set, else an
 * embedded cluster in a temporary directory. A template database gets the
 * migrations and pg-boss's schema once; each test file clones it.
 */
export default async function setup(project: TestProject) {
  let serverUrl: string;
  let stopCluster = async () => {};
  if (process.env.DATABASE_URL) {
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = "/";
    serverUrl = url.toString();
  } else {
    const dataDir = mkdtempSync(join(tmpdir(), "devflow-test-pg-"));
    const port = 55000 + Math.floor(Math.random() * 4000);
    const cluster = await startEmbeddedPostgres({
      dataDir,
      port,
      persistent: false,
      durable: false,
    });
    serverUrl = cluster.url("");
    stopCluster = async () => {
      await cluster.stop();
      rmSync(dataDir, { recursive: true, force: true });
    };
  }
  const admin = new pg.Client({ connectionString: `${serverUrl}postgres` });
  await admin.connect();
  await admin.query(`drop database if exists ${TEMPLATE}`);
  await admin.query(`create database ${TEMPLATE}`);
  const database = createDatabase({ url: `${serverUrl}${TEMPLATE}`, max: 2 });
  await migrateDatabase({ db: database.db });
  await database.close();
  const boss = new PgBoss({
    connectionString: `${serverUrl}${TEMPLATE}`,
    supervise: false,
    schedule: false,
  });
  await boss.start();
  await boss.stop({ graceful: false });
  await admin.end();
  project.provide("pgServerUrl", serverUrl);
  project.provide("pgTemplate", TEMPLATE);
  const before = new Set((await executionProcesses()).map((found) => found.pid));
  return async () => {
    await stopCluster();
    await noExecutionOutlivedItsTests(before);
  };
}

/**
 * After the whole run, no sandbox or agent a test started may be left running on
 * its own: each orphan (its parent gone) is killed, and the run fails naming them.
 * Agents with a living parent (a devflow of this host's own, another test run) and
 * processes that were there before the run are left alone.
 */
async function noExecutionOutlivedItsTests(before: Set<number>): Promise<void> {
  let left: ExecutionProcess[] = [];
  // A sandbox whose parent just ended takes a moment to be gone.
  for (let waited = 0; waited <= 5_000; waited += 500) {
    left = (await executionProcesses()).filter(
      (found) => found.ppid === 1 && !before.has(found.pid),
    );
    if (left.length === 0) return;
    await sleep(500);
  }
  killAll(left);
  throw new Error(
    `${left.length} process(es) of agent executions outlived the tests (killed now):\n${left.map((found) => `  ${found.pid} ${found.executionId}: ${found.command}`).join("\n")}`,
  );
}
