import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  approvalDecisions,
  runEvents,
  runnerExecutions,
  runReports,
  runs,
} from "../../src/db/schema/index.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";
import { createRecordingRunner, type RecordingRunner } from "../helpers/recording-runner.ts";

let h: Harness;
let runner: RecordingRunner;
beforeAll(async () => {
  runner = createRecordingRunner();
  h = await startHarness({ runner });
});
afterAll(() => h.stop());
beforeEach(() => {
  Object.assign(runner, {
    failCapture: false,
    failDispose: false,
    failCaptureAfterDispose: false,
    disposeCalls: 0,
  });
  runner.events.length = 0;
  runner.captureHandles.length = 0;
  runner.disposeHandles.length = 0;
});

/** A run at its spec gate, with the runner's log cleared of what the phase job did. */
async function atSpecGate() {
  const { runId } = await h.start();
  const gate = await h.waitForGate(runId, "spec_approved");
  await h.waitFor("the spec execution to be disposed", async () => {
    const [row] = await h.db
      .select()
      .from(runnerExecutions)
      .where(eq(runnerExecutions.runId, runId));
    return row?.disposedAt !== null && row !== undefined;
  });
  runner.events.length = 0;
  runner.disposeCalls = 0;
  return { runId, gate };
}

const waitForRunnerEvents = (count: number) =>
  h.waitFor(`${count} runner calls`, async () => runner.events.length >= count);

describe("abort and runner cleanup", () => {
  it("scenario 18: abort closes pending gates without decisions, fails the phase, and later approvals conflict", async () => {
    const { runId, gate } = await atSpecGate();
    await h.engine.pauseRun({ runId });
    await h.engine.abortRun({ runId, reason: "user requested abort", actor: "frank" });
    const aborted = await h.status(runId);
    expect(aborted.run).toMatchObject({
      state: "aborted",
      pausedFromState: null,
      currentPhaseId: null,
    });
    expect(aborted.approvals).toMatchObject([{ state: "aborted" }]);
    expect(aborted.phases.map((p) => [p.phaseKey, p.state])).toEqual([
      ["spec", "failed"],
      ["phase_plan", "pending"],
      ["implement", "pending"],
    ]);
    expect(aborted.report?.json).toMatchObject({
      status: "aborted",
      failure: { category: "human", code: "aborted" },
    });
    const types = (await h.events(runId)).map((e) => e.type);
    expect(types).not.toContain("approval.resolved");
    expect(types).toContain("approval.aborted");
    expect(
      await h.db
        .select()
        .from(approvalDecisions)
        .where(eq(approvalDecisions.approvalRequestId, gate.id)),
    ).toEqual([]);
    const executions = await h.db
      .select({ state: runnerExecutions.state })
      .from(runnerExecutions)
      .where(eq(runnerExecutions.runId, runId));
    expect(executions).toEqual([{ state: "failed_needs_human" }]);
    await expect(h.decide(runId, gate.id, "approve")).rejects.toMatchObject({
      code: "approval_conflict",
    });
    expect((await h.status(runId)).run.state).toBe("aborted");
  });

  it("scenario 18b: abort while a phase is running stops it", async () => {
    const { runId } = await h.start({ scenarios: { spec: "timeout" } });
    await h.waitForEvents(runId, "execution.started");
    await h.engine.abortRun({ runId, reason: "taking too long" });
    const [finished] = await h.waitForEvents(runId, "execution.finished");
    expect(finished?.payload).toMatchObject({ stopped: true, state: "failed_needs_human" });
    expect((await h.status(runId)).phases[0]).toMatchObject({
      phaseKey: "spec",
      state: "failed",
      attempts: 1,
    });
  });

  it("scenario 19: a runner stop that fails during abort is reported after the run is aborted with its report", async () => {
    const { runId } = await atSpecGate();
    runner.failDispose = true;
    await h.engine.abortRun({ runId, reason: "user requested abort" });
    const [failure] = await h.waitForEvents(runId, "cleanup.failed");
    expect(failure?.payload).toMatchObject({
      step: "dispose",
      code: "runner_stop_failed",
      category: "runner",
    });
    const status = await h.status(runId);
    expect(status.run.state).toBe("aborted");
    expect(status.report?.path).toMatch(/\/report\.md$/);
  });

  it("scenario 20: the transcript is captured before the execution is disposed", async () => {
    const { runId } = await atSpecGate();
    await h.engine.abortRun({ runId, reason: "user requested abort" });
    await waitForRunnerEvents(2);
    expect(runner.events).toEqual(["capture", "dispose"]);
    const [execution] = await h.db
      .select()
      .from(runnerExecutions)
      .where(eq(runnerExecutions.runId, runId));
    expect(execution?.lastCaptureSeq).toBeGreaterThan(0);
    expect(execution?.transcript).toContain("scripted agent: dev/spec@1, scenario ok");
  });

  it("scenario 21: a reject replayed with the same token runs the cleanup again and stays failed", async () => {
    const { runId, gate } = await atSpecGate();
    runner.failCaptureAfterDispose = true;
    const token = randomUUID();
    await h.decide(runId, gate.id, "reject", token);
    await waitForRunnerEvents(2);
    expect(runner.events).toEqual(["capture", "dispose"]);
    runner.events.length = 0;
    await expect(h.decide(runId, gate.id, "reject", token)).resolves.toEqual({ replayed: true });
    await waitForRunnerEvents(2);
    expect(runner.events).toEqual(["capture", "dispose"]);
    expect((await h.status(runId)).run.state).toBe("failed");
    const failures = await h.db
      .select()
      .from(runEvents)
      .where(and(eq(runEvents.runId, runId), eq(runEvents.type, "cleanup.failed")));
    expect(failures.map((f) => f.payload)).toEqual([]);
  });

  it("scenario 22: cleanup uses the handle stored in the database, so it works from any process", async () => {
    const { runId } = await atSpecGate();
    const [execution] = await h.db
      .select()
      .from(runnerExecutions)
      .where(eq(runnerExecutions.runId, runId));
    const persisted = {
      executionId: execution?.id ?? "",
      pid: 777,
      container: "persisted-container",
    };
    await h.db
      .update(runnerExecutions)
      .set({ handle: persisted, lastCaptureSeq: 1 })
      .where(eq(runnerExecutions.runId, runId));
    await h.engine.abortRun({ runId, reason: "user requested abort" });
    await waitForRunnerEvents(2);
    expect(runner.captureHandles).toContainEqual(persisted);
    expect(runner.disposeHandles).toContainEqual(persisted);
  });

  it("scenario 23: a failed capture still lets disposal run; a retried abort runs both again", async () => {
    const { runId } = await atSpecGate();
    runner.failCapture = true;
    await h.engine.abortRun({ runId, reason: "user requested abort" });
    const [failure] = await h.waitForEvents(runId, "cleanup.failed");
    expect(failure?.payload).toMatchObject({ step: "capture", code: "runner_capture_failed" });
    expect(runner.events).toEqual(["capture", "dispose"]);
    const status = await h.status(runId);
    expect(status.run.state).toBe("aborted");
    expect(status.report).not.toBeNull();
    runner.failCapture = false;
    runner.events.length = 0;
    await expect(h.engine.abortRun({ runId, reason: "retry abort cleanup" })).resolves.toEqual({
      changed: false,
    });
    await waitForRunnerEvents(2);
    expect(runner.events.slice(0, 2)).toEqual(["capture", "dispose"]);
  });

  it("scenario 24: a reject whose runner stop fails still fails the run and writes its report first", async () => {
    const { runId, gate } = await atSpecGate();
    runner.failDispose = true;
    await h.decide(runId, gate.id, "reject");
    const status = await h.status(runId);
    expect(status.run.state).toBe("failed");
    expect(status.report?.path).toMatch(/\/report\.md$/);
    const [failure] = await h.waitForEvents(runId, "cleanup.failed");
    expect(failure?.payload).toMatchObject({ code: "runner_stop_failed" });
    expect(failure?.seq).toBeGreaterThan(
      (await h.waitForEvents(runId, "report.written"))[0]?.seq ?? Infinity,
    );
  });

  it("scenario 25: the same holds when the reject resolves a human-required gate", async () => {
    const { runId } = await h.start({
      scenarios: { spec: { scenario: "invalid", repairScenario: "invalid" } },
    });
    const gate = await h.waitForGate(runId, "artifact_invalid_after_repair");
    runner.failDispose = true;
    await h.decide(runId, gate.id, "reject");
    const status = await h.status(runId);
    expect(status.run.state).toBe("failed");
    expect(status.report).not.toBeNull();
    await h.waitForEvents(runId, "cleanup.failed");
  });

  it("scenario 30: every replay of a terminal decision runs the cleanup once more, harmlessly", async () => {
    const { runId, gate } = await atSpecGate();
    const token = randomUUID();
    await h.decide(runId, gate.id, "reject", token);
    await h.waitFor("one dispose", async () => runner.disposeCalls === 1);
    await h.decide(runId, gate.id, "reject", token);
    await h.waitFor("two disposes", async () => runner.disposeCalls === 2);
    await h.decide(runId, gate.id, "reject", token);
    await h.waitFor("three disposes", async () => runner.disposeCalls === 3);
    expect((await h.status(runId)).run.state).toBe("failed");
  });

  it("scenario 31: an aborted run that lost its report gets it back on replay", async () => {
    const { runId } = await atSpecGate();
    await h.engine.abortRun({ runId, reason: "user requested abort" });
    await h.db.delete(runReports).where(eq(runReports.runId, runId));
    await h.engine.abortRun({ runId, reason: "replay" });
    const status = await h.status(runId);
    expect(status.report?.json).toMatchObject({ runId, status: "aborted" });
  });

  it("scenario 32: on replay the report is repaired before a runner stop failure is reported", async () => {
    const { runId } = await atSpecGate();
    await h.engine.abortRun({ runId, reason: "user requested abort" });
    await waitForRunnerEvents(2);
    await h.db.delete(runReports).where(eq(runReports.runId, runId));
    runner.failDispose = true;
    await h.engine.abortRun({ runId, reason: "replay" });
    expect((await h.status(runId)).report).not.toBeNull();
    const [failure] = await h.waitForEvents(runId, "cleanup.failed");
    expect(failure?.payload).toMatchObject({ code: "runner_stop_failed" });
    const [run] = await h.db.select({ state: runs.state }).from(runs).where(eq(runs.id, runId));
    expect(run?.state).toBe("aborted");
  });
});
