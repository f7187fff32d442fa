import type { Logger } from "pino";
import type { Secrets } from "../../security/secrets.ts";
import type { Runner, RunnerExit, RunnerRequest } from "../runner.ts";
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

/**
 * Runs one execution through the runner: start, persist the handle, heartbeat
 * (which also notices a stop ordered by any process), wait, capture the
 * transcript, then dispose — always, whatever happened — and record how it ended,
 * with the transcript redacted and the connections the sandbox refused.
 */
export async function runExecution(
  deps: RunExecutionDeps,
  request: RunnerRequest,
): Promise<{ exit: RunnerExit; transcript: string }> {
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
  const beat = async () => {
    const alive = await engine.heartbeatExecution(executionId);
    if (!alive) await runner.dispose(handle);
  };
  const timer = setInterval(() => {
    beat().catch((error: unknown) =>
      deps.log.warn({ err: error, executionId }, "heartbeat failed"),
    );
  }, deps.heartbeatMs);
  let exit: RunnerExit;
  try {
    if (deps.shutdown?.aborted) stopForShutdown();
    exit = await runner.wait(handle);
  } finally {
    clearInterval(timer);
    deps.shutdown?.removeEventListener("abort", stopForShutdown);
  }
  let captured: Awaited<ReturnType<Runner["capture"]>>;
  try {
    captured = await runner.capture(handle, 0);
  } finally {
    await runner.dispose(handle);
  }
  const transcript = captured.map((chunk) => ({ ...chunk, text: deps.secrets.redact(chunk.text) }));
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
    transcript,
    disposed: true,
  });
  return { exit, transcript: captured.map((chunk) => chunk.text).join("") };
}
