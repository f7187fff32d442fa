import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approvalDecisions, runEvents, runs } from "../../src/db/schema/index.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ limits: { maxActiveRuns: 1000, maxActiveRunsPerRepository: 1000 } });
});
afterAll(() => h.stop());

const issue = () => 500_000 + Math.floor(Math.random() * 400_000);

describe("starting runs", () => {
  it("scenario 3: a second active run for the same issue is refused with the active run in its hint", async () => {
    const issueNumber = issue();
    const { runId } = await h.start({ issueNumber });
    await h.waitForGate(runId, "spec_approved");
    await expect(h.start({ issueNumber })).rejects.toMatchObject({
      code: "active_run_exists",
      recoveryHint: JSON.stringify({ currentRunId: runId, currentState: "awaiting_approval" }),
    });
    await h.engine.abortRun({ runId, reason: "done" });
    const second = await h.start({ issueNumber });
    expect(second.runId).not.toBe(runId);
  });

  it("scenario 4: a replayed start is a no-op with the same input and internal_state_corruption with another", async () => {
    const startKey = randomUUID();
    const issueNumber = issue();
    const input = { startKey, issueNumber, scenarios: { spec: "ok" as const } };
    const first = await h.start(input);
    const again = await h.start(input);
    expect(again).toMatchObject({ runId: first.runId, replayed: true });
    await expect(h.start({ ...input, scenarios: { spec: "timeout" } })).rejects.toMatchObject({
      code: "internal_state_corruption",
    });
    const rows = await h.db.select().from(runs).where(eq(runs.issueNumber, issueNumber));
    expect(rows).toHaveLength(1);
  });

  it("rejects bad input with a message that names it, and an unknown template with the known ones", async () => {
    await expect(h.start({ repository: "not-a-repo" })).rejects.toMatchObject({
      code: "invalid_input",
      message: expect.stringContaining("owner/name"),
    });
    await expect(h.start({ template: "nope@1" })).rejects.toMatchObject({
      code: "unknown_template",
      recoveryHint: expect.stringContaining("development@1"),
    });
  });

  it("20 concurrent starts for one issue make exactly one run", async () => {
    const issueNumber = issue();
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => h.start({ issueNumber })),
    );
    const started = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r) => r.status === "rejected");
    expect(started).toHaveLength(1);
    expect(refused).toHaveLength(19);
    for (const r of refused) expect(r.reason).toMatchObject({ code: "active_run_exists" });
    expect(await h.db.select().from(runs).where(eq(runs.issueNumber, issueNumber))).toHaveLength(1);
  });

  it("20 concurrent starts with one start key (a redelivered webhook) make one run and all get it", async () => {
    const issueNumber = issue();
    const startKey = randomUUID();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => h.start({ issueNumber, startKey })),
    );
    expect(new Set(results.map((r) => r.runId)).size).toBe(1);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
  });

  it("50 concurrent identical approvals make one decision and one approval.resolved", async () => {
    const { runId } = await h.start({ issueNumber: issue() });
    const gate = await h.waitForGate(runId, "spec_approved");
    const token = randomUUID();
    const results = await Promise.all(
      Array.from({ length: 50 }, () => h.decide(runId, gate.id, "approve", token)),
    );
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(
      await h.db
        .select()
        .from(approvalDecisions)
        .where(eq(approvalDecisions.approvalRequestId, gate.id)),
    ).toHaveLength(1);
    const resolved = await h.db
      .select()
      .from(runEvents)
      .where(and(eq(runEvents.runId, runId), eq(runEvents.type, "approval.resolved")));
    expect(resolved).toHaveLength(1);
    await h.waitForGate(runId, "phase_plan_approved");
    expect((await h.status(runId)).phases.find((p) => p.phaseKey === "phase_plan")?.attempts).toBe(
      1,
    );
  });

  it("50 concurrent different decisions on one gate: exactly one wins, the rest conflict", async () => {
    const { runId } = await h.start({ issueNumber: issue() });
    const gate = await h.waitForGate(runId, "spec_approved");
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        h.engine.signalApproval({
          runId,
          approvalId: gate.id,
          action: i % 2 === 0 ? "approve" : "reject",
          clientToken: `token-${i}`,
        }),
      ),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results)
      if (r.status === "rejected") expect(r.reason).toMatchObject({ code: "approval_conflict" });
  });
});

describe("active-run caps (scenario 7, differs: runs over the cap are queued, not rejected)", () => {
  // Agents that keep working hold their slots; runs parked at a gate hold none.
  const working = { spec: "timeout" as const };

  it("scenario 7 (differs: queued, not rejected): a run over the global cap is queued, says why and where, and starts FIFO as slots free", async () => {
    const capped = await startHarness({
      limits: { maxActiveRuns: 2, maxActiveRunsPerRepository: 10 },
    });
    try {
      const started = [];
      for (let i = 0; i < 5; i += 1) {
        started.push(await capped.start({ repository: `acme/repo-${i}`, scenarios: working }));
      }
      expect(started.map((s) => s.state)).toEqual([
        "executing",
        "executing",
        "queued",
        "queued",
        "queued",
      ]);
      const [queuedEvent] = await capped.waitForEvents(started[2]?.runId ?? "", "run.queued");
      expect(queuedEvent?.payload).toMatchObject({
        position: 1,
        cap: "global",
        active: 2,
        limit: 2,
        reason: "devflow has 2 active runs, its limit is 2",
      });
      const [, , third, fourth, fifth] = started.map((s) => s.runId);
      if (third === undefined || fourth === undefined || fifth === undefined)
        throw new Error("runs missing");
      expect((await capped.status(fifth)).queue).toMatchObject({ position: 3, cap: "global" });

      await capped.engine.abortRun({ runId: started[1]?.runId ?? "", reason: "free a slot" });
      await capped.waitForState(third, "executing");
      expect((await capped.status(fourth)).run.state).toBe("queued");
      // Positions move up as the queue drains.
      expect((await capped.status(fifth)).queue).toMatchObject({ position: 2 });

      await capped.engine.abortRun({ runId: started[0]?.runId ?? "", reason: "free a slot" });
      await capped.waitForState(fourth, "executing");
      expect((await capped.status(fifth)).run.state).toBe("queued");
      const [admitted] = await capped.waitForEvents(fourth, "run.admitted");
      expect(admitted?.payload).toMatchObject({ waitedMs: expect.any(Number) });

      // A queued run can be aborted too, and never starts.
      await capped.engine.abortRun({ runId: fifth, reason: "not needed" });
      expect((await capped.status(fifth)).run.state).toBe("aborted");
      expect((await capped.status(fifth)).report?.json).toMatchObject({ status: "aborted" });
      for (const runId of [third, fourth]) await capped.engine.abortRun({ runId, reason: "done" });
    } finally {
      await capped.stop();
    }
  });

  it("a run parked at a gate holds no slot: a new run starts under the cap, the next one waits", async () => {
    const capped = await startHarness({
      limits: { maxActiveRuns: 1, maxActiveRunsPerRepository: 10 },
    });
    try {
      const parked = await capped.start({ repository: "acme/p1" });
      await capped.waitForGate(parked.runId, "spec_approved");
      const next = await capped.start({ repository: "acme/p2", scenarios: working });
      expect(next.state).toBe("executing");
      const waiting = await capped.start({ repository: "acme/p3" });
      expect(waiting.state).toBe("queued");
      expect((await capped.status(waiting.runId)).queue).toMatchObject({
        position: 1,
        cap: "global",
        active: 1,
        limit: 1,
      });
      // A person moves the parked run on: it goes on at once, over the cap.
      await capped.approve(parked.runId, "spec_approved");
      await capped.waitForGate(parked.runId, "phase_plan_approved");
      await capped.engine.abortRun({ runId: next.runId, reason: "free the slot" });
      await capped.waitForGate(waiting.runId, "spec_approved");
      await capped.engine.abortRun({ runId: parked.runId, reason: "done" });
    } finally {
      await capped.stop();
    }
  });

  it("a repository at its own cap waits without holding back other repositories", async () => {
    const capped = await startHarness({
      limits: { maxActiveRuns: 10, maxActiveRunsPerRepository: 1 },
    });
    try {
      const a1 = await capped.start({ repository: "acme/a", scenarios: working });
      const a2 = await capped.start({ repository: "acme/a" });
      const b1 = await capped.start({ repository: "acme/b", scenarios: working });
      expect([a1.state, a2.state, b1.state]).toEqual(["executing", "queued", "executing"]);
      const [queued] = await capped.waitForEvents(a2.runId, "run.queued");
      expect(queued?.payload).toMatchObject({
        cap: "repository",
        reason: "acme/a has 1 active runs, its limit is 1",
      });
      await capped.engine.abortRun({ runId: a1.runId, reason: "free the slot" });
      await capped.waitForGate(a2.runId, "spec_approved");
      await capped.engine.abortRun({ runId: b1.runId, reason: "done" });
    } finally {
      await capped.stop();
    }
  });
});

describe("a repository's own cap (caps.activeRuns in .github/devflow.yml)", () => {
  it("queues a run when the repository's cap is reached, even under devflow's", async () => {
    const capped = await startHarness({
      limits: { maxActiveRuns: 10, maxActiveRunsPerRepository: 10 },
    });
    try {
      const first = await capped.start({
        repository: "acme/small",
        repositoryCap: 1,
        scenarios: { spec: "timeout" },
      });
      const second = await capped.start({ repository: "acme/small", repositoryCap: 1 });
      expect([first.state, second.state]).toEqual(["executing", "queued"]);
      const [queued] = await capped.waitForEvents(second.runId, "run.queued");
      expect(queued?.payload).toMatchObject({
        cap: "repository",
        limit: 1,
        reason: "acme/small has 1 active runs, its limit is 1",
      });
      await capped.engine.abortRun({ runId: first.runId, reason: "free the slot" });
      await capped.waitForGate(second.runId, "spec_approved");
    } finally {
      await capped.stop();
    }
  });
});

describe("database invariants", () => {
  it("refuses an event out of sequence and any change to a written event", async () => {
    const { runId } = await h.start({ issueNumber: issue() });
    await h.waitForGate(runId, "spec_approved");
    const last = (await h.events(runId)).length;
    const insert = (seq: number) =>
      h.db.insert(runEvents).values({
        runId,
        seq,
        type: "test.event",
        payload: {},
        idempotencyKey: `${runId}:test:${seq}`,
      });
    await expect(insert(last + 2)).rejects.toMatchObject({
      cause: { message: expect.stringContaining(`must be ${last + 1}`) },
    });
    await expect(insert(last)).rejects.toThrow();
    await expect(
      h.db.update(runEvents).set({ type: "rewritten" }).where(eq(runEvents.runId, runId)),
    ).rejects.toMatchObject({
      cause: { message: "run_events are append-only" },
    });
  });

  it("refuses a second active run for one issue even when written around the engine", async () => {
    const issueNumber = issue();
    const { runId } = await h.start({ issueNumber });
    const [row] = await h.db.select().from(runs).where(eq(runs.id, runId));
    if (row === undefined) throw new Error("run missing");
    const { id: _id, ...copy } = row;
    await expect(
      h.db.insert(runs).values({ ...copy, startKey: `${row.startKey}-copy` }),
    ).rejects.toMatchObject({
      cause: { constraint: "runs_one_active_per_issue" },
    });
  });
});

describe("budgets", () => {
  it("a repository's budget can lower devflow's limit, never raise it; a negative cost is refused", async () => {
    const capped = await startHarness({
      limits: { maxActiveRuns: 1000, maxActiveRunsPerRepository: 1000, defaultBudgetUsd: 5 },
      workers: false,
    });
    try {
      const higher = await capped.start({ budgetUsd: 50 });
      const lower = await capped.start({ budgetUsd: 2 });
      const none = await capped.start();
      const budgets = await Promise.all(
        [higher, lower, none].map(async ({ runId }) => (await capped.status(runId)).run.budgetUsd),
      );
      expect(budgets).toEqual([5, 2, 5]);
    } finally {
      await capped.stop({ graceful: false });
    }
    const { runId } = await h.start();
    const status = await h.status(runId);
    await expect(
      h.engine.recordPhaseResult({
        runId,
        phaseId: status.phases[0]?.id ?? "",
        attemptId: "00000000-0000-0000-0000-000000000000",
        attempt: 1,
        outcome: { kind: "succeeded" },
        artifacts: [],
        costUsd: -3,
      }),
    ).rejects.toMatchObject({ code: "invalid_input" });
  });
});
