import type { Logger } from "pino";
import { resolveScenario } from "../agents/scripted/scenarios.ts";
import type { Engine } from "../engine/create-engine.ts";
import type { ExecutePhasePayload } from "../engine/outbox.ts";
import type { PhaseResultInput, ProducedArtifact } from "../engine/record-phase-result.ts";
import type { Registry } from "../registry/types.ts";
import { runDirectory } from "../report/final-report.ts";
import { buildPrompt } from "./build-prompt.ts";
import type { Runner, RunnerExit, RunnerRequest } from "./runner.ts";

export interface ExecuteAttemptDeps {
  engine: Engine;
  runner: Runner;
  registry: Registry;
  log: Logger;
  /** The agent used when the template binds none to the role (`DEVFLOW_AGENT`). */
  defaultAgent: string | undefined;
  heartbeatMs: number;
  attemptTimeoutMs: number;
}

type Failure = Extract<PhaseResultInput["outcome"], { kind: "failed" }>;

function failed(
  errorClass: Failure["errorClass"],
  category: string,
  code: string,
  message: string,
): Failure {
  return { kind: "failed", errorClass, failure: { category, code, message } };
}

/** Parses and validates what the agent wrote; a parse error is a validation error too. */
function checkOutput(
  registry: Registry,
  schemaId: string,
  output: string | null,
  revision: number,
): ProducedArtifact {
  if (output === null || output.trim() === "") {
    return { revision, content: null, valid: false, errors: ["/: the agent wrote no artifact"] };
  }
  let content: unknown;
  try {
    content = JSON.parse(output);
  } catch (error) {
    return {
      revision,
      content: null,
      valid: false,
      errors: [`/: not JSON (${(error as Error).message})`],
    };
  }
  const result = registry.validate(schemaId, content);
  return { revision, content, valid: result.ok, errors: result.ok ? [] : result.errors };
}

/**
 * Runs one execution through the runner: start, persist the handle, heartbeat
 * (which also notices a stop ordered by any process), wait, capture the
 * transcript, then dispose — always, whatever happened.
 */
async function runExecution(
  deps: ExecuteAttemptDeps,
  executionId: string,
  request: RunnerRequest,
): Promise<RunnerExit> {
  const { engine, runner } = deps;
  const handle = await runner.start(request);
  await engine.recordExecutionHandle(executionId, handle);
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
    exit = await runner.wait(handle);
  } finally {
    clearInterval(timer);
  }
  let transcript: Awaited<ReturnType<Runner["capture"]>>;
  try {
    transcript = await runner.capture(handle, 0);
  } finally {
    await runner.dispose(handle);
  }
  const state = exit.stopped
    ? "stopped"
    : exit.exitCode === 0 && !exit.timedOut
      ? "succeeded"
      : "failed";
  await engine.finishExecution({
    runId: request.runId,
    executionId,
    state,
    exit: { exitCode: exit.exitCode, timedOut: exit.timedOut, stopped: exit.stopped },
    transcript,
    disposed: true,
  });
  return exit;
}

/**
 * Executes one attempt of one phase: runs the agent, validates its artifact against
 * the phase's schema, re-prompts once with the validation errors if it is invalid,
 * and reports the outcome for `(phaseId, attempt)`. A stale job (its attempt no
 * longer running) does nothing; a job whose previous try died mid-execution hands
 * the phase to a new attempt.
 */
export async function executeAttempt(
  deps: ExecuteAttemptDeps,
  payload: ExecutePhasePayload,
): Promise<void> {
  const { engine, registry } = deps;
  const context = await engine.getAttemptContext(payload.attemptId);
  if (context === null) return;
  const { run, phase, attempt } = context;
  const log = deps.log.child({ runId: run.id, phaseKey: phase.phaseKey, attempt: attempt.attempt });
  const report = (
    outcome: PhaseResultInput["outcome"],
    artifacts: ProducedArtifact[],
    costUsd?: number,
  ) =>
    engine.recordPhaseResult({
      runId: run.id,
      phaseId: phase.id,
      attemptId: attempt.id,
      attempt: attempt.attempt,
      outcome,
      artifacts,
      ...(costUsd === undefined ? {} : { costUsd }),
    });
  const agent = context.agent ?? deps.defaultAgent;
  const schemaId = phase.artifactSchema;
  if (agent === undefined || schemaId === null) {
    await report(
      failed(
        "fatal",
        "agent_error",
        "agent_not_configured",
        `no coding agent is configured for role ${phase.role}: set DEVFLOW_AGENT (claude-code, codex, aider, command or scripted) and start the run again`,
      ),
      [],
    );
    return;
  }
  const artifacts: ProducedArtifact[] = [];
  let costUsd = 0;
  for (const revision of [1, 2]) {
    const registration = await engine.registerExecution({
      runId: run.id,
      attemptId: attempt.id,
      revision,
      backend: deps.runner.backend,
    });
    if (registration.status === "stale") return;
    if (registration.status === "orphaned") {
      log.warn(
        { revision },
        "a previous try of this attempt died mid-execution; starting a new attempt",
      );
      await engine.supersedeAttempt({
        runId: run.id,
        attemptId: attempt.id,
        code: "worker_lost",
        message: "the worker running this attempt stopped before it finished",
      });
      return;
    }
    const outputPath = `${runDirectory(run.id)}/${phase.phaseKey}.json`;
    const prompt = buildPrompt({
      persona: context.persona,
      phaseTitle: phase.title,
      instructions: phase.instructions,
      issueTitle: run.issueTitle,
      requirements: run.requirements,
      earlierArtifacts: context.earlierArtifacts,
      feedback: attempt.feedback,
      repairErrors: artifacts.at(-1)?.errors ?? [],
      agentsMd: null,
      schemaId,
      schema: registry.schemas.get(schemaId)?.definition ?? {},
      outputPath,
    });
    const request: RunnerRequest = {
      executionId: registration.executionId,
      runId: run.id,
      phaseKey: phase.phaseKey,
      attempt: attempt.attempt,
      revision,
      agent,
      schemaId,
      prompt,
      timeoutMs: deps.attemptTimeoutMs,
      ...(agent === "scripted"
        ? {
            scenario: resolveScenario(
              run.agentConfig.scripted,
              phase.phaseKey,
              attempt.attempt,
              revision,
            ),
          }
        : {}),
    };
    let exit: RunnerExit;
    try {
      exit = await runExecution(deps, registration.executionId, request);
    } catch (error) {
      log.error({ err: error }, "the runner failed");
      await engine.finishExecution({
        runId: run.id,
        executionId: registration.executionId,
        state: "failed",
        exit: { error: (error as Error).message },
      });
      await report(
        failed(
          "recoverable",
          "runner",
          "runner_failed",
          `the ${deps.runner.backend} runner failed: ${(error as Error).message}`,
        ),
        artifacts,
        costUsd,
      );
      return;
    }
    if (exit.stopped) return;
    costUsd += exit.costUsd ?? 0;
    if (exit.timedOut) {
      await report(
        failed(
          "recoverable",
          "timeout",
          "attempt_timeout",
          `the agent did not finish within ${Math.round(deps.attemptTimeoutMs / 1000)} s and was stopped`,
        ),
        artifacts,
        costUsd,
      );
      return;
    }
    if (exit.error !== undefined || exit.exitCode !== 0) {
      const code = exit.error?.code ?? "agent_exit_nonzero";
      const message = exit.error?.message ?? `the ${agent} agent exited with code ${exit.exitCode}`;
      await report(
        failed(exit.error?.fatal === true ? "fatal" : "recoverable", "agent_error", code, message),
        artifacts,
        costUsd,
      );
      return;
    }
    const artifact = checkOutput(registry, schemaId, exit.output, revision);
    artifacts.push(artifact);
    if (artifact.valid) {
      await report({ kind: "succeeded" }, artifacts, costUsd);
      return;
    }
    log.info({ revision, errors: artifact.errors.slice(0, 5) }, "artifact invalid");
  }
  await report({ kind: "invalid_artifact" }, artifacts, costUsd);
}
