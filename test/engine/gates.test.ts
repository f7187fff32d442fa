import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { artifacts, runnerExecutions } from "../../src/db/schema/index.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.stop());

const conflict = { code: "approval_conflict" };

describe("gates, pause and resume", () => {
  it("scenario 8: pausing during an approval wait keeps the gate pending and undecidable until resume", async () => {
    const { runId } = await h.start();
    const gate = await h.waitForGate(runId, "spec_approved");
    await h.engine.pauseRun({ runId, actor: "dana" });
    expect((await h.status(runId)).run).toMatchObject({
      state: "paused",
      pausedFromState: "awaiting_approval",
    });
    await expect(h.decide(runId, gate.id, "approve")).rejects.toMatchObject(conflict);
    await expect(h.decide(runId, gate.id, "reject")).rejects.toMatchObject(conflict);
    const paused = await h.status(runId);
    expect(paused.run.state).toBe("paused");
    expect(paused.approvals).toMatchObject([{ gateKey: "spec_approved", state: "pending" }]);
    expect(await h.engine.pauseRun({ runId })).toEqual({ changed: false });
    await h.engine.resumeRun({ runId });
    expect((await h.status(runId)).run).toMatchObject({
      state: "awaiting_approval",
      pausedFromState: null,
    });
    await h.approve(runId, "spec_approved");
    await h.waitForGate(runId, "phase_plan_approved");
  });

  it("scenario 9: pausing stops the running attempt; resume runs the phase again as attempt 2, which reaches its gate", async () => {
    const { runId } = await h.start({ scenarios: { spec: ["timeout", "ok"] } });
    await h.waitForEvents(runId, "execution.started");
    await h.engine.pauseRun({ runId });
    const paused = await h.status(runId);
    expect(paused.run).toMatchObject({ state: "paused", pausedFromState: "executing" });
    expect(paused.phases.find((p) => p.phaseKey === "spec")).toMatchObject({
      state: "running",
      attempts: 1,
    });
    const [finished] = await h.waitForEvents(runId, "execution.finished");
    expect(finished?.payload).toMatchObject({ state: "stopped", stopped: true });
    await h.engine.resumeRun({ runId });
    await h.waitForGate(runId, "spec_approved");
    const resumed = await h.status(runId);
    expect(resumed.run.state).toBe("awaiting_approval");
    expect(resumed.phases.find((p) => p.phaseKey === "spec")).toMatchObject({
      state: "awaiting_approval",
      attempts: 2,
    });
    const executions = await h.db
      .select()
      .from(runnerExecutions)
      .where(eq(runnerExecutions.runId, runId));
    expect(executions.map((e) => e.state).sort()).toEqual(["stopped", "succeeded"]);
  });

  it("repairs an invalid artifact once: the second answer, if valid, reaches the gate", async () => {
    const { runId } = await h.start({
      scenarios: { spec: { scenario: "garbage", repairScenario: "ok" } },
    });
    await h.waitForGate(runId, "spec_approved");
    const rows = await h.db
      .select({ revision: artifacts.revision, valid: artifacts.valid, errors: artifacts.errors })
      .from(artifacts)
      .where(eq(artifacts.runId, runId))
      .orderBy(artifacts.revision);
    expect(rows.map((r) => [r.revision, r.valid])).toEqual([
      [1, false],
      [2, true],
    ]);
    expect(rows[0]?.errors[0]).toMatch(/^\/: not JSON/);
    expect((await h.waitForEvents(runId, "execution.finished", 2)).length).toBe(2);
    expect((await h.status(runId)).phases[0]).toMatchObject({ phaseKey: "spec", attempts: 1 });
  });

  it("scenario 10: an artifact still invalid after repair pauses the run at a gate only a rejection resolves", async () => {
    const { runId } = await h.start({
      scenarios: { spec: { scenario: "invalid", repairScenario: "invalid" } },
    });
    const status = await h.waitForState(runId, "paused");
    expect(status.report).toBeNull();
    expect(status.run.pausedFromState).toBe("executing");
    expect(status.phases.map((p) => [p.phaseKey, p.state])).toEqual([
      ["spec", "failed"],
      ["phase_plan", "pending"],
      ["implement", "pending"],
    ]);
    expect(status.phases[0]?.failure).toMatchObject({
      category: "invalid_artifact",
      code: "artifact_invalid_after_repair",
    });
    expect(status.approvals).toMatchObject([
      { gateKey: "artifact_invalid_after_repair", state: "pending", kind: "human_required" },
    ]);
    const gate = status.approvals[0];
    if (gate === undefined) throw new Error("gate missing");
    await expect(h.engine.resumeRun({ runId })).rejects.toMatchObject(conflict);
    await expect(h.decide(runId, gate.id, "approve")).rejects.toMatchObject(conflict);
    await expect(h.decide(runId, gate.id, "request_changes")).rejects.toMatchObject(conflict);
    expect((await h.status(runId)).run.state).toBe("paused");
    await h.engine.signalApproval({
      runId,
      approvalId: gate.id,
      action: "reject",
      clientToken: randomUUID(),
      actor: "erin",
    });
    const failed = await h.status(runId);
    expect(failed.run.state).toBe("failed");
    expect(failed.report?.path).toMatch(/\/report\.md$/);
    expect(failed.report?.json).toMatchObject({
      status: "failed",
      failure: { category: "invalid_artifact", code: "artifact_invalid_after_repair" },
    });
  });

  it("scenario 27: a plan still invalid after repair pauses the run from the planning state", async () => {
    const { runId } = await h.start({
      scenarios: { phase_plan: { scenario: "invalid", repairScenario: "invalid" } },
    });
    await h.approve(runId, "spec_approved");
    const status = await h.waitForState(runId, "paused");
    expect(status.run.pausedFromState).toBe("planning");
    expect(status.phases.map((p) => [p.phaseKey, p.state])).toEqual([
      ["spec", "completed"],
      ["phase_plan", "failed"],
      ["implement", "pending"],
    ]);
  });

  it("scenario 28: the same client token with a different action is a conflict", async () => {
    const { runId } = await h.start();
    const gate = await h.waitForGate(runId, "spec_approved");
    const token = randomUUID();
    await h.decide(runId, gate.id, "approve", token);
    await expect(h.decide(runId, gate.id, "reject", token)).rejects.toMatchObject(conflict);
    await h.waitForGate(runId, "phase_plan_approved");
  });

  it("scenario 29: a token that is a suffix of an earlier one is a different token, not a replay", async () => {
    const { runId } = await h.start();
    const gate = await h.waitForGate(runId, "spec_approved");
    await h.decide(runId, gate.id, "approve", "prefix:shared-token");
    await expect(h.decide(runId, gate.id, "approve", "shared-token")).rejects.toMatchObject(
      conflict,
    );
  });

  it("a decision binds to the gate its author saw: not one written before the gate opened, not a token that decided another gate", async () => {
    const { runId } = await h.start();
    const spec = await h.waitForGate(runId, "spec_approved");
    await h.engine.signalApproval({
      runId,
      approvalId: spec.id,
      action: "approve",
      clientToken: "comment:1",
      seen: { at: new Date() },
    });
    const plan = await h.waitForGate(runId, "phase_plan_approved");
    const stale = { code: "approval_stale" };
    await expect(
      h.engine.signalApproval({
        runId,
        approvalId: plan.id,
        action: "approve",
        clientToken: "comment:1",
      }),
    ).rejects.toMatchObject({
      ...stale,
      message: expect.stringContaining("already decided gate `spec_approved`"),
    });
    await expect(
      h.engine.signalApproval({
        runId,
        approvalId: plan.id,
        action: "approve",
        clientToken: "comment:2",
        seen: { at: new Date(plan.createdAt.getTime() - 60_000) },
      }),
    ).rejects.toMatchObject({ ...stale, message: expect.stringContaining("written before gate") });
    expect((await h.status(runId)).run.state).toBe("awaiting_approval");
    await h.engine.signalApproval({
      runId,
      approvalId: plan.id,
      action: "approve",
      clientToken: "comment:3",
      seen: { at: new Date() },
    });
    await h.waitForState(runId, "completed");
  });
});
