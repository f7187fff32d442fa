import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { phaseAttempts, runnerExecutions } from "../../src/db/schema/index.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";
import { createTestDatabase } from "../helpers/test-database.ts";

const workerScript = fileURLToPath(new URL("../helpers/worker-process.ts", import.meta.url));
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function harness(options: Parameters<typeof startHarness>[0]): Promise<Harness> {
  const h = await startHarness(options);
  cleanups.push(() => h.stop({ graceful: false }));
  return h;
}

async function spawnWorker(databaseUrl: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [workerScript, databaseUrl], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
  });
  if (child.stdout === null) throw new Error("the worker has no stdout");
  const [chunk] = (await once(child.stdout, "data")) as [Buffer];
  expect(chunk.toString()).toContain("ready");
  return child;
}

describe("recovery after a crash (scenario 26, differs: runs resume instead of failing)", () => {
  it("scenario 26 (differs: resumed, not failed): after a restart, a run waiting at a gate still waits there and goes on when approved", async () => {
    const databaseUrl = await createTestDatabase();
    const before = await startHarness({ databaseUrl });
    const { runId } = await before.start();
    await before.waitForGate(runId, "spec_approved");
    await before.stop({ graceful: false });

    const after = await harness({ databaseUrl });
    const swept = await after.engine.sweepRuns({ staleAfterMs: 0 });
    expect(swept.superseded).toEqual([]);
    const status = await after.status(runId);
    expect(status.run.state).toBe("awaiting_approval");
    expect(status.approvals).toMatchObject([{ gateKey: "spec_approved", state: "pending" }]);
    await after.approve(runId, "spec_approved");
    await after.approve(runId, "phase_plan_approved");
    await after.waitForState(runId, "completed");
  });

  it("scenario 26 (differs: resumed, not failed): a worker killed with SIGKILL mid-phase; another worker finishes the phase as a new attempt, no event twice", async () => {
    const databaseUrl = await createTestDatabase();
    // This process only enqueues at first: the phase runs in the child.
    const h = await harness({ databaseUrl, workers: false });
    const child = await spawnWorker(databaseUrl);
    const { runId } = await h.start({ scenarios: { spec: ["timeout", "ok"] } });
    await h.waitForEvents(runId, "execution.started");
    child.kill("SIGKILL");
    await once(child, "exit");

    const survivor = await harness({ databaseUrl, jobs: { staleAfterMs: 1_000 } });
    // Its own start-up sweep may get there first; either way the attempt must end superseded.
    await survivor.waitFor("the dead worker's attempt to be superseded", async () => {
      await survivor.engine.sweepRuns({ staleAfterMs: 1_000 });
      const [first] = await h.db
        .select()
        .from(phaseAttempts)
        .where(eq(phaseAttempts.runId, runId))
        .orderBy(phaseAttempts.attempt);
      return first?.state === "superseded";
    });
    await survivor.waitForGate(runId, "spec_approved");

    const attempts = await h.db
      .select()
      .from(phaseAttempts)
      .where(eq(phaseAttempts.runId, runId))
      .orderBy(phaseAttempts.attempt);
    expect(attempts.map((a) => [a.attempt, a.state, a.failure?.code ?? null])).toEqual([
      [1, "superseded", "worker_lost"],
      [2, "succeeded", null],
    ]);
    const executions = await h.db
      .select()
      .from(runnerExecutions)
      .where(eq(runnerExecutions.runId, runId));
    expect(executions.map((e) => e.state).sort()).toEqual(["failed", "succeeded"]);
    const events = await h.events(runId);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    const keys = events.map((e) => e.idempotencyKey);
    expect(new Set(keys).size).toBe(keys.length);
    expect(events.filter((e) => e.type === "phase.started").map((e) => e.payload.attempt)).toEqual([
      1, 2,
    ]);
    expect(events.filter((e) => e.type === "attempt.superseded")).toHaveLength(1);

    // The dead worker's job is retried by pg-boss when it expires; by then the attempt it
    // names is superseded, so the retry must change nothing.
    const attemptOne = attempts[0];
    if (attemptOne === undefined) throw new Error("attempt missing");
    await survivor.devflow.engine.recordPhaseResult({
      runId,
      phaseId: attemptOne.phaseId,
      attemptId: attemptOne.id,
      attempt: 1,
      outcome: { kind: "succeeded" },
      artifacts: [],
    });
    expect((await h.events(runId)).length).toBe(events.length);
    await survivor.approve(runId, "spec_approved");
    await survivor.approve(runId, "phase_plan_approved");
    await survivor.waitForState(runId, "completed");
  });

  it("an attempt whose job vanished is run again by the sweep", async () => {
    const databaseUrl = await createTestDatabase();
    const h = await harness({ databaseUrl, workers: false });
    const { runId } = await h.start();
    const [attempt] = await h.db.select().from(phaseAttempts).where(eq(phaseAttempts.runId, runId));
    if (attempt === undefined) throw new Error("attempt missing");
    await h.devflow.boss.deleteJob("phase-execute", attempt.id);
    const swept = await h.engine.sweepRuns({ staleAfterMs: 60_000 });
    expect(swept.superseded).toEqual([attempt.id]);
    const [superseded] = await h.waitForEvents(runId, "attempt.superseded");
    expect(superseded?.payload).toMatchObject({ code: "job_lost" });
    const worker = await harness({ databaseUrl });
    await worker.waitForGate(runId, "spec_approved");
    expect((await worker.status(runId)).phases[0]).toMatchObject({ phaseKey: "spec", attempts: 2 });
  });
  it("a phase that keeps losing its worker ends at the attempts_exhausted gate, not in a loop", async () => {
    const h = await harness({ workers: false });
    const { runId } = await h.start();
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      const [running] = await h.db
        .select()
        .from(phaseAttempts)
        .where(eq(phaseAttempts.runId, runId))
        .orderBy(phaseAttempts.attempt);
      const current = (
        await h.db.select().from(phaseAttempts).where(eq(phaseAttempts.runId, runId))
      ).find((a) => a.state === "running");
      expect(current?.attempt).toBe(attempt);
      expect(running).toBeDefined();
      await h.engine.supersedeAttempt({
        runId,
        attemptId: current?.id ?? "",
        code: "worker_lost",
        message: "gone",
      });
    }
    const gate = await h.waitForGate(runId, "attempts_exhausted");
    expect(gate.reason).toContain("all 3 attempts failed");
    expect((await h.status(runId)).run.state).toBe("paused");
  });
});
