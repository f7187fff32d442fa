import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  approvalDecisions,
  approvalRequests,
  artifacts,
  runBindings,
  runPhases,
  runReports,
  runs,
} from "../../src/db/schema/index.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.stop());

describe("a development@1 run", () => {
  it("waits at its implementation gate by default: completed only once a person approves the implementation", async () => {
    const { runId } = await h.start({ scenarios: { spec: "ok", phase_plan: "ok" }, skipGates: [] });
    await h.approve(runId, "spec_approved");
    await h.approve(runId, "phase_plan_approved");
    await h.waitForGate(runId, "implementation_approved");
    const waiting = await h.status(runId);
    expect(waiting.run.state).toBe("awaiting_approval");
    expect(waiting.phases.at(-1)).toMatchObject({
      phaseKey: "implement",
      state: "awaiting_approval",
    });
    await h.approve(runId, "implementation_approved");
    const completed = await h.waitForState(runId, "completed");
    expect(completed.phases.map((p) => p.state)).toEqual(["completed", "completed", "completed"]);
  });

  it("a plan's gate is never skipped: it is what inserts the planned phases", async () => {
    const { runId } = await h.start({
      scenarios: { spec: "ok", phase_plan: "ok" },
      skipGates: ["spec_approved", "phase_plan_approved", "implementation_approved"],
    });
    await h.waitForGate(runId, "phase_plan_approved");
    const [spec] = (await h.status(runId)).phases;
    expect(spec).toMatchObject({ phaseKey: "spec", state: "completed" });
  });

  it("scenario 1: goes through both gates to completed, with gapless events and a valid final report", async () => {
    const { runId } = await h.start({ scenarios: { spec: "ok", phase_plan: "ok" } });
    const specGate = await h.waitForGate(runId, "spec_approved");
    const awaiting = await h.status(runId);
    expect(awaiting.run.state).toBe("awaiting_approval");
    expect(awaiting.phases.map((p) => [p.phaseKey, p.state])).toEqual([
      ["spec", "awaiting_approval"],
      ["phase_plan", "pending"],
      ["implement", "pending"],
    ]);
    const specArtifacts = await h.db
      .select({ schemaId: artifacts.schemaId, valid: artifacts.valid, path: artifacts.path })
      .from(artifacts)
      .where(eq(artifacts.runId, runId));
    expect(specArtifacts).toEqual([
      { schemaId: "dev/spec@1", valid: true, path: `.devflow/runs/${runId}/spec.json` },
    ]);

    const token = randomUUID();
    await h.engine.signalApproval({
      runId,
      approvalId: specGate.id,
      action: "approve",
      clientToken: token,
      actor: "alice",
    });
    const replay = await h.engine.signalApproval({
      runId,
      approvalId: specGate.id,
      action: "approve",
      clientToken: token,
      actor: "alice",
    });
    expect(replay.replayed).toBe(true);
    const decisions = await h.db
      .select()
      .from(approvalDecisions)
      .where(eq(approvalDecisions.approvalRequestId, specGate.id));
    expect(decisions).toHaveLength(1);

    const planGate = await h.waitForGate(runId, "phase_plan_approved");
    expect((await h.status(runId)).phases.map((p) => [p.phaseKey, p.state])).toEqual([
      ["spec", "completed"],
      ["phase_plan", "awaiting_approval"],
      ["implement", "pending"],
    ]);
    const planToken = randomUUID();
    await h.engine.signalApproval({
      runId,
      approvalId: planGate.id,
      action: "approve",
      clientToken: planToken,
      actor: "bob",
    });
    const completed = await h.waitForState(runId, "completed");
    expect(completed.phases.map((p) => [p.phaseKey, p.state, p.attempts])).toEqual([
      ["spec", "completed", 1],
      ["phase_plan", "completed", 1],
      ["implement", "completed", 1],
    ]);
    expect(completed.approvals.map((a) => [a.gateKey, a.state, a.resolvedBy])).toEqual([
      ["spec_approved", "approved", "alice"],
      ["phase_plan_approved", "approved", "bob"],
    ]);

    const bindings = await h.db
      .select({ role: runBindings.role })
      .from(runBindings)
      .where(eq(runBindings.runId, runId));
    expect(bindings.map((b) => b.role).sort()).toEqual([
      "implementer",
      "phase_planner",
      "reviewer",
      "spec_writer",
    ]);
    const events = await h.events(runId);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.map((e) => e.type)).toContain("approval.resolved");
    expect(events.filter((e) => e.type === "execution.finished")).toHaveLength(3);
    expect(events.filter((e) => e.type === "run.completed")).toHaveLength(1);
    expect(events.at(-1)?.type).toBe("report.written");

    const report = completed.report;
    expect(report?.path).toBe(`.devflow/runs/${runId}/report.md`);
    expect(h.devflow.registry.validate("common/final-report@1", report?.json)).toEqual({
      ok: true,
    });
    expect(report?.json).toMatchObject({
      runId,
      status: "completed",
      approvals: [
        { gateKey: "spec_approved", state: "approved", actor: "alice" },
        { gateKey: "phase_plan_approved", state: "approved", actor: "bob" },
      ],
      unresolved: [],
    });
    expect(report?.markdown).toContain("✅ completed");

    // A lost report is written again when the decision is replayed, and nothing else changes.
    await h.db.delete(runReports).where(eq(runReports.runId, runId));
    const before = (await h.events(runId)).length;
    await h.engine.signalApproval({
      runId,
      approvalId: planGate.id,
      action: "approve",
      clientToken: planToken,
      actor: "bob",
    });
    const repaired = await h.status(runId);
    expect(repaired.run.state).toBe("completed");
    expect(repaired.report?.json).toMatchObject({ runId, status: "completed" });
    expect((await h.events(runId)).length).toBe(before);
  });

  it("scenario 2: counts the attempt before skipping a planned phase that has nothing to produce", async () => {
    const { runId } = await h.start({ scenarios: { phase_plan: "skip-only" } });
    await h.approve(runId, "spec_approved");
    await h.approve(runId, "phase_plan_approved");
    const done = await h.waitForState(runId, "completed");
    expect(done.phases.find((p) => p.phaseKey === "documentation-note")).toMatchObject({
      attempts: 1,
      state: "skipped",
    });
    const [skip] = await h.waitForEvents(runId, "phase.skipped");
    expect(skip?.idempotencyKey).toMatch(/:1$/);
    expect(skip?.payload).toMatchObject({ attempt: 1, phaseKey: "documentation-note" });
  });

  it("scenario 16: a replayed approval while a phase runs starts no second phase", async () => {
    const { runId } = await h.start();
    const gate = await h.waitForGate(runId, "spec_approved");
    const token = randomUUID();
    // Make the next phase hang so that it is still running when the approval is replayed.
    await h.db
      .update(runs)
      .set({ agentConfig: { scripted: { phase_plan: "timeout" } } })
      .where(eq(runs.id, runId));
    await h.decide(runId, gate.id, "approve", token);
    await h.waitForEvents(runId, "execution.started", 2);
    await h.decide(runId, gate.id, "approve", token);
    const phases = await h.db.select().from(runPhases).where(eq(runPhases.runId, runId));
    expect(phases.find((p) => p.phaseKey === "phase_plan")).toMatchObject({
      state: "running",
      attempts: 1,
    });
    expect(phases.find((p) => p.phaseKey === "implement")).toMatchObject({
      state: "pending",
      attempts: 0,
    });
    await h.engine.abortRun({ runId, reason: "test done" });
  });

  it("scenario 17: request changes reruns the same phase with the feedback, then the run completes", async () => {
    const { runId } = await h.start();
    const first = await h.waitForGate(runId, "spec_approved");
    await h.engine.signalApproval({
      runId,
      approvalId: first.id,
      action: "request_changes",
      clientToken: randomUUID(),
      actor: "carol",
      body: "Cover the empty-input case.",
      comments: [{ path: "README.md", line: 3, body: "Mention the limit." }],
    });
    const second = await h.waitForStatus(
      runId,
      (s) =>
        s.approvals.filter((a) => a.state === "pending").length === 1 && s.approvals.length === 2,
    );
    expect(second.run.state).toBe("awaiting_approval");
    expect(second.phases.map((p) => [p.phaseKey, p.state, p.attempts])).toEqual([
      ["spec", "awaiting_approval", 2],
      ["phase_plan", "pending", 0],
      ["implement", "pending", 0],
    ]);
    expect(second.approvals.map((a) => [a.gateKey, a.state])).toEqual([
      ["spec_approved", "changes_requested"],
      ["spec_approved", "pending"],
    ]);
    const started = await h.waitForEvents(runId, "phase.started", 2);
    expect(started[1]?.payload).toMatchObject({ phaseKey: "spec", attempt: 2, feedback: true });
    await h.approve(runId, "spec_approved");
    await h.approve(runId, "phase_plan_approved");
    const done = await h.waitForState(runId, "completed");
    expect(done.phases.map((p) => [p.phaseKey, p.state, p.attempts])).toEqual([
      ["spec", "completed", 2],
      ["phase_plan", "completed", 1],
      ["implement", "completed", 1],
    ]);
    const requests = await h.db
      .select()
      .from(approvalRequests)
      .where(eq(approvalRequests.runId, runId));
    expect(requests).toHaveLength(3);
  });
});
