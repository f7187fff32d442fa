import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { phaseAttempts } from "../../src/db/schema/index.ts";
import { renderRunStatus } from "../../src/github/publish/render-run-status.ts";
import { createProcessRunner } from "../../src/runner/backends/process-runner.ts";
import { createBareRemote, git } from "../helpers/git-fixtures.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ jobs: { attemptTimeoutSeconds: 1 } });
});
afterAll(() => h.stop());

describe("failures say why, and end in a retry or a gate", () => {
  it("an agent past its time limit is stopped and retried; when attempts run out a person decides", async () => {
    const { runId } = await h.start({
      scenarios: { spec: ["timeout", "timeout", "timeout", "ok"] },
    });
    const gate = await h.waitForGate(runId, "attempts_exhausted");
    const status = await h.status(runId);
    expect(status.run).toMatchObject({ state: "paused", pausedFromState: "executing" });
    expect(status.phases[0]).toMatchObject({ phaseKey: "spec", state: "failed", attempts: 3 });
    expect(status.phases[0]?.failure).toMatchObject({
      category: "timeout",
      code: "attempt_timeout",
      message: expect.stringContaining("all 3 attempts failed"),
    });
    const attempts = await h.db
      .select()
      .from(phaseAttempts)
      .where(eq(phaseAttempts.runId, runId))
      .orderBy(phaseAttempts.attempt);
    expect(attempts.map((a) => [a.attempt, a.state, a.failure?.category])).toEqual([
      [1, "failed", "timeout"],
      [2, "failed", "timeout"],
      [3, "failed", "timeout"],
    ]);
    expect((await h.waitForEvents(runId, "phase.retrying", 2)).length).toBe(2);
    // Approving makes no sense here: only another try or giving up.
    await expect(h.decide(runId, gate.id, "approve")).rejects.toMatchObject({
      code: "approval_conflict",
    });
    await h.engine.signalApproval({
      runId,
      approvalId: gate.id,
      action: "request_changes",
      clientToken: randomUUID(),
      body: "Try again, it was a slow day.",
    });
    await h.waitForGate(runId, "spec_approved");
    expect((await h.status(runId)).phases[0]).toMatchObject({
      state: "awaiting_approval",
      attempts: 4,
    });
  });

  it("an agent that exits non-zero is retried as a new attempt", async () => {
    const { runId } = await h.start({ scenarios: { spec: ["crash", "ok"] } });
    await h.waitForGate(runId, "spec_approved");
    const [retrying] = await h.waitForEvents(runId, "phase.retrying");
    expect(retrying?.payload).toMatchObject({
      category: "agent_error",
      code: "agent_exit_nonzero",
      attempt: 1,
    });
    expect((await h.status(runId)).phases[0]?.attempts).toBe(2);
  });

  it("rejecting at the exhausted gate fails the run with the last failure in its report", async () => {
    const { runId } = await h.start({ scenarios: { spec: "crash" } });
    const gate = await h.waitForGate(runId, "attempts_exhausted");
    await h.decide(runId, gate.id, "reject");
    const failed = await h.status(runId);
    expect(failed.run.state).toBe("failed");
    expect(failed.report?.json).toMatchObject({
      status: "failed",
      failure: { category: "agent_error", code: "agent_exit_nonzero" },
    });
  });
});

describe("a run with no agent configured", () => {
  it("fails its first phase with a message naming the setting to change", async () => {
    const bare = await startHarness({ jobs: { defaultAgent: undefined } });
    try {
      const { runId } = await bare.start();
      const failed = await bare.waitForState(runId, "failed");
      expect(failed.run.failure).toMatchObject({
        category: "agent_error",
        code: "agent_not_configured",
        message: expect.stringContaining("set DEVFLOW_AGENT"),
      });
      expect(failed.report?.markdown).toContain("set DEVFLOW_AGENT");
      // What the issue's devflow comment says about it.
      const comment = renderRunStatus(failed, null);
      expect(comment).toContain("is **failed**");
      expect(comment).toContain(
        "**agent_error** `agent_not_configured`: no coding agent is configured for role spec_writer: set DEVFLOW_AGENT",
      );
    } finally {
      await bare.stop();
    }
  });
});

describe("the cost budget, enforced by devflow rather than the agent", () => {
  it("stops before an attempt once the run has spent its budget; a person grants one more or rejects", async () => {
    // Each scripted execution reports $0.01: the third phase finds $0.02 spent of $0.015.
    const { runId } = await h.start({ budgetUsd: 0.015 });
    await h.approve(runId, "spec_approved");
    await h.approve(runId, "phase_plan_approved");
    const gate = await h.waitForGate(runId, "budget_exhausted");
    const held = await h.status(runId);
    expect(held.run).toMatchObject({
      state: "paused",
      pausedFromState: "executing",
      budgetUsd: 0.015,
      budgetGrants: 1,
    });
    expect(held.phases.find((p) => p.phaseKey === "implement")).toMatchObject({
      state: "failed",
      attempts: 0,
      failure: {
        category: "budget",
        code: "budget_exhausted",
        message: expect.stringContaining(
          "cost $0.020 of the $0.015 allowed; approve to grant another $0.015",
        ),
      },
    });
    await expect(h.decide(runId, gate.id, "request_changes")).rejects.toMatchObject({
      code: "approval_conflict",
    });
    await h.decide(runId, gate.id, "approve");
    const done = await h.waitForState(runId, "completed");
    expect(done.run.budgetGrants).toBe(2);
    expect(done.report?.json).toMatchObject({ totals: { costUsd: 0.03 } });
  });

  it("rejecting at the budget gate fails the run with the budget as its reason", async () => {
    const { runId } = await h.start({ budgetUsd: 0.005 });
    await h.approve(runId, "spec_approved");
    const gate = await h.waitForGate(runId, "budget_exhausted");
    await h.decide(runId, gate.id, "reject");
    const failed = await h.status(runId);
    expect(failed.run.state).toBe("failed");
    expect(failed.report?.json).toMatchObject({
      failure: { category: "budget", code: "budget_exhausted" },
    });
  });
});

describe("the cost budget, enforced while an agent works", () => {
  it("stops an agent that spends what the run has left, commits its work so far, and waits at the budget gate", async () => {
    // Agents as sandboxed processes; the spendy agent reports $0.01 more every 100 ms
    // for 30 s and would then finish. The run may spend $0.05.
    const sandboxed = await startHarness({
      runner: createProcessRunner({ killGraceMs: 500 }),
      jobs: { attemptTimeoutSeconds: 60 },
    });
    try {
      const remote = createBareRemote();
      const { runId } = await sandboxed.start({
        cloneUrl: remote,
        budgetUsd: 0.05,
        scenarios: { spec: "spendy" },
      });
      const gate = await sandboxed.waitForGate(runId, "budget_exhausted", 30_000);
      const held = await sandboxed.status(runId);
      expect(held.run).toMatchObject({ state: "paused", pausedFromState: "executing" });
      const spec = held.phases.find((phase) => phase.phaseKey === "spec");
      expect(spec).toMatchObject({
        state: "failed",
        attempts: 1,
        failure: { category: "budget", code: "budget_exhausted" },
      });
      expect(spec?.failure?.message).toMatch(
        /^the agent was stopped after spending about \$0\.\d+, more than the \$0\.050 the run's budget had left; its work so far is committed$/,
      );
      const [attempt] = await sandboxed.db
        .select()
        .from(phaseAttempts)
        .where(eq(phaseAttempts.runId, runId));
      // Stopped within a heartbeat or two of crossing the line, long before its 30 s end.
      expect(attempt?.costUsd).toBeGreaterThanOrEqual(0.05);
      expect(attempt?.costUsd).toBeLessThan(0.5);
      expect(attempt?.commitSha).toEqual(expect.any(String));
      // What it had done is on the run branch.
      const work = git(remote, "show", `${held.run.branch}:SPENDY_WORK.md`);
      expect(work).toMatch(/^step 1\nstep 2\n/);
      // Rejecting at the gate ends the run there, with nothing more spent.
      await sandboxed.decide(runId, gate.id, "reject");
      expect((await sandboxed.status(runId)).run.state).toBe("failed");
    } finally {
      await sandboxed.stop();
    }
  }, 90_000);
});
