import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ScriptedScenario } from "../../src/agents/scripted/scenarios.ts";
import { runnerExecutions, runReports } from "../../src/db/schema/index.ts";
import { QUEUES } from "../../src/engine/outbox.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.stop());

async function approvePlanExpectingFailure(scenario: ScriptedScenario, message: RegExp) {
  const { runId } = await h.start({ scenarios: { phase_plan: scenario } });
  await h.approve(runId, "spec_approved");
  const gate = await h.waitForGate(runId, "phase_plan_approved");
  await expect(h.decide(runId, gate.id, "approve")).rejects.toMatchObject({
    code: "internal_state_corruption",
    message: expect.stringMatching(message),
  });
  const failed = await h.status(runId);
  expect(failed.run.state).toBe("failed");
  expect(failed.run.failure).toMatchObject({ code: "internal_state_corruption" });
  expect(failed.report?.json).toMatchObject({
    status: "failed",
    failure: { code: "internal_state_corruption" },
  });
  expect(failed.phases.map((p) => p.phaseKey)).toEqual(["spec", "phase_plan", "implement"]);
  const executions = await h.db
    .select({ state: runnerExecutions.state })
    .from(runnerExecutions)
    .where(eq(runnerExecutions.runId, runId));
  expect(executions.length).toBe(2);
  expect(executions.every((e) => e.state === "failed_needs_human")).toBe(true);
  return runId;
}

describe("planned phases", () => {
  it("scenario 11: a planned role the run does not bind fails the run with a report, nothing inserted", async () => {
    await approvePlanExpectingFailure("unbound-role", /role ghost_writer is not bound/);
  });

  it("scenario 12: a planned key that collides with a template key fails the run, nothing skipped silently", async () => {
    await approvePlanExpectingFailure("colliding-spec", /spec: key collides with a template phase/);
  });

  it("scenario 13: one unbound role among several planned phases inserts none of them", async () => {
    await approvePlanExpectingFailure("mixed-unbound-role", /frontend: role ghost_writer/);
  });

  it("a planned schema the registry does not know fails the run before anything runs", async () => {
    await approvePlanExpectingFailure(
      "unregistered-schema",
      /schema dev\/research@9 is not registered/,
    );
  });

  it("runs every planned phase, in order, between the plan and the implementation", async () => {
    const { runId } = await h.start({ scenarios: { phase_plan: "two-phases" } });
    await h.approve(runId, "spec_approved");
    await h.approve(runId, "phase_plan_approved");
    const done = await h.waitForState(runId, "completed");
    expect(done.phases.map((p) => [p.phaseKey, p.state, p.origin])).toEqual([
      ["spec", "completed", "template"],
      ["phase_plan", "completed", "template"],
      ["backend", "completed", "plan"],
      ["review", "completed", "plan"],
      ["implement", "completed", "template"],
    ]);
  });

  it("scenario 14: a planned phase that fails fatally while executing fails the run with its code", async () => {
    const { runId } = await h.start({ scenarios: { phase_plan: "unknown-schema" } });
    await h.approve(runId, "spec_approved");
    await h.approve(runId, "phase_plan_approved");
    const failed = await h.waitForState(runId, "failed");
    expect(failed.run.failure).toMatchObject({
      category: "agent_error",
      code: "scripted_fixture_missing",
    });
    expect(failed.phases.find((p) => p.phaseKey === "final-report")).toMatchObject({
      state: "failed",
      attempts: 1,
    });
    expect(failed.report?.json).toMatchObject({
      status: "failed",
      failure: { code: "scripted_fixture_missing" },
    });
    const executions = await h.db
      .select({ state: runnerExecutions.state })
      .from(runnerExecutions)
      .where(eq(runnerExecutions.runId, runId));
    expect(executions.length).toBeGreaterThanOrEqual(2);
    expect(executions.every((e) => e.state === "failed_needs_human")).toBe(true);
  });

  it("scenario 15: an advance replayed on a failed run writes the missing report and changes nothing else", async () => {
    const { runId } = await h.start({ scenarios: { phase_plan: "unknown-schema" } });
    await h.approve(runId, "spec_approved");
    await h.approve(runId, "phase_plan_approved");
    const failed = await h.waitForState(runId, "failed");
    await h.db.delete(runReports).where(eq(runReports.runId, runId));
    const eventsBefore = await h.events(runId);
    await h.devflow.boss.send(QUEUES.advanceRun, { runId, reason: "replay" });
    const repaired = await h.waitForStatus(
      runId,
      (s) => s.report !== null,
      "the report to be repaired",
    );
    expect(repaired.report?.json).toMatchObject({ status: "failed" });
    expect(repaired.run.state).toBe("failed");
    expect(repaired.phases).toEqual(failed.phases);
    expect(await h.events(runId)).toEqual(eventsBefore);
  });
});
