import type { Logger } from "pino";
import type { UsageMeter } from "../../agents/usage-meter.ts";
import type { Secrets } from "../../security/secrets.ts";
import type { Runner, RunnerExit, RunnerRequest, TranscriptChunk } from "../runner.ts";
import type { AttemptPort } from "./attempt-port.ts";

export interface RunExecutionDeps {
  engine: AttemptPort;
  runner: Runner;
  log: Logger;
  secrets: Secrets;
  heartbeatMs: number;
  /** Aborted when this worker is shutting down and running attempts must be handed back. */
  shutdown?: AbortSignal | undefined;
}

/** How often, at most, a running agent's new transcript lines are stored. */
const TRANSCRIPT_FLUSH_MS = 1000;
/** What one statement stores of a transcript: a flood goes in many, each of bounded size. */
const CAPTURE_BATCH = { maxBytes: 256 * 1024, maxChunks: 8192 };

/** What an execution may spend, and how to read what it has spent. */
export interface SpendingLimit {
  meter: UsageMeter;
  /** Dollars the run has left for this execution. */
  leftUsd: number;
}

/**
 * Runs one execution through the runner: start, persist the handle, heartbeat
 * (which also notices a stop ordered by any process), wait, capture the
 * transcript, then dispose — always, whatever happened — and record how it ended,
 * with the connections the sandbox refused. The transcript is stored redacted, in
 * batches, as it grows and at the end; the one returned is what the runner kept. With a
 * spending limit, each heartbeat also reads the agent's new output lines and stops
 * it once it has spent what the run had left (`overBudgetUsd`: what it had spent).
 */
export async function runExecution(
  deps: RunExecutionDeps,
  request: RunnerRequest,
  limit?: SpendingLimit,
): Promise<{ exit: RunnerExit; transcript: string; overBudgetUsd?: number }> {
  const { engine, runner } = deps;
  const { executionId } = request;
  const handle = await runner.start(request);
  await engine.recordExecutionHandle(executionId, handle);
  // A worker that is shutting down stops its agents, so their attempts can be handed back.
  const stopForShutdown = () => {
    runner
      .dispose(handle)
      .catch((error: unknown) =>
        deps.log.warn({ err: error, executionId }, "could not stop the agent at shutdown"),
      );
  };
  deps.shutdown?.addEventListener("abort", stopForShutdown, { once: true });
  let overBudgetUsd: number | undefined;
  // Transcript lines up to here are stored (and, with a meter, metered).
  let storedLines = 0;
  let reportedUsd: number | undefined;
  const redacted = (chunks: TranscriptChunk[]) =>
    chunks.map((chunk) => ({ ...chunk, text: deps.secrets.redact(chunk.text) }));
  const store = async (chunks: TranscriptChunk[]) => {
    await engine.appendTranscript(executionId, redacted(chunks));
    storedLines = chunks.at(-1)?.seq ?? storedLines;
  };
  const checkSpending = async () => {
    if (limit === undefined || overBudgetUsd !== undefined) return;
    const spent = limit.meter.costUsd();
    if (spent !== undefined && spent >= limit.leftUsd) {
      overBudgetUsd = spent;
      deps.log.info(
        { executionId, spentUsd: spent, leftUsd: limit.leftUsd },
        "the agent spent what the run had left: stopping it",
      );
      await runner.dispose(handle);
    }
  };
  /** Stores the agent's new lines, a batch at a time, and meters them. */
  const stream = async () => {
    for (;;) {
      const chunks = await runner.capture(handle, storedLines, CAPTURE_BATCH);
      if (chunks.length === 0) return;
      await store(chunks);
      if (limit === undefined) continue;
      for (const chunk of chunks) limit.meter.read(chunk.text.replace(/\n$/, ""));
      const spent = limit.meter.costUsd();
      if (spent !== undefined && spent !== reportedUsd) {
        reportedUsd = spent;
        await engine.recordAttemptSpending(executionId, spent);
      }
      await checkSpending();
      if (overBudgetUsd !== undefined) return;
    }
  };
  const beat = async () => {
    const alive = await engine.heartbeatExecution(executionId);
    if (!alive) await runner.dispose(handle);
    else await checkSpending();
  };
  const timer = setInterval(() => {
    beat().catch((error: unknown) =>
      deps.log.warn({ err: error, executionId }, "heartbeat failed"),
    );
  }, deps.heartbeatMs);
  // The transcript is stored as it grows, for people watching the run; spending is
  // read from the same lines. One pass at a time: a slow database must not reorder
  // them, nor passes pile up behind it.
  let streaming: Promise<void> | undefined;
  const streamTimer = setInterval(
    () => {
      streaming ??= stream()
        .catch((error: unknown) =>
          deps.log.warn({ err: error, executionId }, "could not store the transcript"),
        )
        .finally(() => {
          streaming = undefined;
        });
    },
    Math.min(deps.heartbeatMs, TRANSCRIPT_FLUSH_MS),
  );
  let exit: RunnerExit;
  try {
    if (deps.shutdown?.aborted) stopForShutdown();
    exit = await runner.wait(handle);
  } finally {
    clearInterval(timer);
    clearInterval(streamTimer);
    deps.shutdown?.removeEventListener("abort", stopForShutdown);
  }
  await streaming;
  // The adapter reads the whole transcript (bounded by the runner's cap), so it is read
  // again from the start; what was not stored while the agent ran is stored on the way.
  let transcript = "";
  try {
    for (let seq = 0; ; ) {
      const chunks = await runner.capture(handle, seq, CAPTURE_BATCH);
      if (chunks.length === 0) break;
      // Concatenated, not joined at the end: V8 keeps the batches as they are until read.
      transcript += chunks.map((chunk) => chunk.text).join("");
      const fresh = chunks.filter((chunk) => chunk.seq > storedLines);
      if (fresh.length > 0) await store(fresh);
      seq = chunks.at(-1)?.seq ?? seq;
    }
  } finally {
    await runner.dispose(handle);
  }
  const state =
    exit.stopped || deps.shutdown?.aborted === true
      ? "stopped"
      : exit.exitCode === 0 && !exit.timedOut
        ? "succeeded"
        : "failed";
  await engine.finishExecution({
    runId: request.runId,
    executionId,
    state,
    exit: {
      exitCode: exit.exitCode,
      timedOut: exit.timedOut,
      stopped: exit.stopped,
      ...(exit.egressDenied === undefined || exit.egressDenied.length === 0
        ? {}
        : { egressDenied: exit.egressDenied }),
    },
    disposed: true,
  });
  return {
    exit,
    transcript,
    ...(overBudgetUsd === undefined ? {} : { overBudgetUsd }),
  };
}
