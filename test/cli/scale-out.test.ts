import { setTimeout as sleep } from "node:timers/promises";
import { and, eq, inArray } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { phaseAttempts, runnerExecutions } from "../../src/db/schema/index.ts";
import { type DevflowProcess, spawnDevflow, waitForHealthy } from "../helpers/cli-process.ts";
import { tempDir } from "../helpers/git-fixtures.ts";
import { freePort } from "../helpers/github-fixtures.ts";
import { startHarness } from "../helpers/harness.ts";
import { createTestDatabase } from "../helpers/test-database.ts";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const RUNS = 4;

describe("scaling out: one server and two devflow worker processes on one PostgreSQL", () => {
  it("spreads phase jobs across both workers; with one SIGKILLed mid-attempt, the other finishes every run", async () => {
    const databaseUrl = await createTestDatabase();
    const shared = {
      DATABASE_URL: databaseUrl,
      DEVFLOW_AGENT: "scripted",
      DEVFLOW_RUNNER: "process",
      DEVFLOW_HEARTBEAT_MS: "300",
      DEVFLOW_STALE_AFTER_MS: "4000",
      DEVFLOW_SWEEP_INTERVAL_SECONDS: "1",
    };
    const launch = async (role: "start" | "worker", env: Record<string, string>) => {
      const port = await freePort();
      const devflow = spawnDevflow([role], {
        ...shared,
        ...env,
        PORT: String(port),
        // Each process is its own host: its own workspaces and execution files.
        DEVFLOW_DATA_DIR: tempDir(`scale-${role}`),
      });
      cleanups.push(() => devflow.kill());
      await waitForHealthy(port, devflow);
      return { devflow, port };
    };
    // The server takes webhooks and light jobs; agents run only on the workers.
    const server = await launch("start", { DEVFLOW_WORKER_CONCURRENCY: "0" });
    const a = await launch("worker", { DEVFLOW_WORKER_CONCURRENCY: "1" });
    const b = await launch("worker", { DEVFLOW_WORKER_CONCURRENCY: "1" });
    const workerId = (worker: { devflow: DevflowProcess }) => `:${worker.devflow.child.pid}`;

    const h = await startHarness({ databaseUrl, workers: false, waitTimeoutMs: 120_000 });
    cleanups.push(() => h.stop({ graceful: false }));
    const runIds: string[] = [];
    for (let index = 0; index < RUNS; index += 1) {
      runIds.push((await h.start({ scenarios: { spec: "slow" } })).runId);
    }

    // Kill worker A while its agent is at work.
    const victim = await h.waitFor("an execution running on worker A", async () => {
      const running = await h.db
        .select()
        .from(runnerExecutions)
        .where(eq(runnerExecutions.state, "running"));
      return running.find((row) => row.worker?.endsWith(workerId(a)));
    });
    a.devflow.child.kill("SIGKILL");
    expect(await a.devflow.exited).toBe("SIGKILL");

    // Steer every run through its gates, as reviewers would, until all have completed.
    await h.waitFor(
      "every run to complete",
      async () => {
        let completed = 0;
        for (const runId of runIds) {
          const status = await h.status(runId);
          if (status.run.state === "completed") completed += 1;
          const gate = status.approvals.find((approval) => approval.state === "pending");
          if (status.run.state === "awaiting_approval" && gate !== undefined) {
            await h.decide(runId, gate.id, "approve");
          }
        }
        if (completed === RUNS) return true;
        await sleep(100);
        return undefined;
      },
      120_000,
    );

    // Both workers ran phases; after the kill, only B did.
    const executions = await h.db
      .select()
      .from(runnerExecutions)
      .where(inArray(runnerExecutions.runId, runIds));
    const ranOn = (id: string) => executions.filter((row) => row.worker?.endsWith(id)).length;
    expect(ranOn(workerId(a))).toBeGreaterThan(0);
    expect(ranOn(workerId(b))).toBeGreaterThan(0);
    expect(ranOn(workerId(a)) + ranOn(workerId(b))).toBe(executions.length);

    // The attempt A was running was superseded, and its phase finished as a new attempt on B.
    const [killed] = await h.db
      .select()
      .from(phaseAttempts)
      .where(eq(phaseAttempts.id, victim.attemptId));
    expect(killed?.state).toBe("superseded");
    const [rerun] = await h.db
      .select()
      .from(phaseAttempts)
      .where(
        and(
          eq(phaseAttempts.phaseId, victim.phaseId),
          eq(phaseAttempts.attempt, (killed?.attempt ?? 0) + 1),
        ),
      );
    expect(rerun?.state).toBe("succeeded");
    expect(
      executions.find((row) => row.attemptId === rerun?.id)?.worker?.endsWith(workerId(b)),
    ).toBe(true);
    // Nothing is left running: the dead worker's execution was closed by the others.
    await h.waitFor("the dead worker's execution to be closed", async () => {
      const [row] = await h.db
        .select()
        .from(runnerExecutions)
        .where(eq(runnerExecutions.id, victim.id));
      return row !== undefined && row.state !== "running";
    });

    for (const runId of runIds) {
      const events = await h.events(runId);
      expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index + 1));
    }

    // Each process answers /metrics; the run counts come from the shared database.
    const metrics = await (await fetch(`http://127.0.0.1:${b.port}/metrics`)).text();
    expect(metrics).toContain(`devflow_runs{state="completed"} ${RUNS}`);
    expect(metrics).toMatch(
      /devflow_phase_attempt_duration_seconds_count\{outcome="superseded"\} [1-9]/,
    );
    const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    expect(await health.json()).toEqual({ status: "ok", database: "ok", queue: "ok" });

    for (const process of [server.devflow, b.devflow]) process.child.kill("SIGTERM");
    expect(await server.devflow.exited).toBe(0);
    expect(await b.devflow.exited).toBe(0);
  }, 300_000);
});
