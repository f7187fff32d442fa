import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { phaseAttempts, runnerExecutions } from "../../src/db/schema/index.ts";
import { TRANSCRIPT_LIMIT } from "../../src/engine/execution-records.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ workers: false });
});
afterAll(async () => {
  await h?.stop();
});

async function newExecution(): Promise<{ runId: string; executionId: string }> {
  const { runId } = await h.start({});
  const attempt = await h.waitFor("the run's first attempt", async () => {
    const [row] = await h.db
      .select()
      .from(phaseAttempts)
      .where(and(eq(phaseAttempts.runId, runId), eq(phaseAttempts.state, "running")));
    return row;
  });
  const registration = await h.engine.registerExecution({
    runId,
    attemptId: attempt.id,
    revision: 1,
    backend: "in-process",
  });
  if (registration.status !== "registered") throw new Error("the execution was not registered");
  return { runId, executionId: registration.executionId };
}

const stored = async (executionId: string) => {
  const [row] = await h.db
    .select()
    .from(runnerExecutions)
    .where(eq(runnerExecutions.id, executionId));
  if (row === undefined) throw new Error("no such execution");
  return row;
};

/** `count` one-line chunks numbered from `from + 1`. */
const lines = (from: number, count: number) =>
  Array.from({ length: count }, (_, index) => ({
    seq: from + index + 1,
    text: `line ${from + index + 1}\n`,
  }));

describe("storing a transcript", () => {
  it("takes 300 000 chunks in one append, keeping the last of them up to the limit", async () => {
    const { executionId } = await newExecution();
    const chunks = lines(0, 300_000);
    await h.engine.appendTranscript(executionId, chunks);
    const row = await stored(executionId);
    expect(row.lastCaptureSeq).toBe(300_000);
    expect(row.transcript).toBe(
      chunks
        .map((chunk) => chunk.text)
        .join("")
        .slice(-TRANSCRIPT_LIMIT),
    );
    // Chunks at or below the capture offset are there already.
    await h.engine.appendTranscript(executionId, lines(299_990, 10));
    expect((await stored(executionId)).transcript).toBe(row.transcript);
  });

  it("takes 300 000 chunks with how the execution ended", async () => {
    const { runId, executionId } = await newExecution();
    await h.engine.finishExecution({
      runId,
      executionId,
      state: "succeeded",
      exit: { exitCode: 0 },
      transcript: lines(0, 300_000),
    });
    const row = await stored(executionId);
    expect(row.state).toBe("succeeded");
    expect(row.lastCaptureSeq).toBe(300_000);
    expect(row.transcript.endsWith("line 299999\nline 300000\n")).toBe(true);
  });
});
