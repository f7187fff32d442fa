import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { AgentAdapter, AgentOptions } from "../../agents/agent-adapter.ts";
import { resolveScenario } from "../../agents/scripted/scenarios.ts";
import type { AttemptContext } from "../../engine/get-attempt-context.ts";
import type { ProducedArtifact } from "../../engine/record-phase-result.ts";
import { WORKER_ID } from "../../log.ts";
import type { Registry } from "../../registry/types.ts";
import type { EgressRule } from "../../security/egress-policy.ts";
import { buildPrompt } from "../build-prompt.ts";
import type { EgressDenial } from "../sandbox/egress-proxy.ts";
import type { Workspace } from "../workspaces/workspaces.ts";
import { agentFailure, type Failure, fromError } from "./attempt-failure.ts";
import type { createAttemptUsage } from "./attempt-usage.ts";
import { checkArtifact } from "./check-artifact.ts";
import { type RunExecutionDeps, runExecution } from "./run-execution.ts";

export interface RunRevisionDeps extends RunExecutionDeps {
  registry: Registry;
  agentOptions: AgentOptions;
  attemptTimeoutMs: number;
  /** Where each execution keeps its own files: prompt, schema, transcript. */
  executionsDir: string;
  /** The operator's own egress rules (DEVFLOW_EGRESS_ALLOW). */
  egressAllow: EgressRule[];
}

export interface RevisionInput {
  context: AttemptContext;
  adapter: AgentAdapter;
  workspace: Workspace;
  schemaId: string;
  outputPath: string;
  /** 1, or 2 for the repair of an invalid artifact. */
  revision: number;
  /** The errors of the previous revision's artifact, for the repair prompt. */
  repairErrors: string[];
  agentsMd: string | null;
  usage: ReturnType<typeof createAttemptUsage>;
}

/** How one execution of an attempt ended, as the attempt must go on. */
export type RevisionResult =
  /** The attempt is no longer running: its job is stale. */
  | { kind: "stale" }
  /** A previous try died mid-execution, or this worker is stopping: the phase went to a new attempt. */
  | { kind: "handed_back" }
  /** Stopped from outside (pause, abort); nothing to report. */
  | { kind: "stopped" }
  | { kind: "failed"; failure: Failure; egressDenied: EgressDenial[] }
  | { kind: "artifact"; artifact: ProducedArtifact; egressDenied: EgressDenial[] };

/**
 * One execution of an attempt: registers it (a registration that finds the same
 * execution already there means the worker that ran it died: the phase goes to a
 * new attempt), writes its prompt and schema to its own directory, runs the
 * agent, and reads back the artifact or the failure.
 */
export async function runRevision(
  deps: RunRevisionDeps,
  input: RevisionInput,
): Promise<RevisionResult> {
  const { engine, runner, log } = deps;
  const { run, phase, attempt } = input.context;
  const schema = deps.registry.schemas.get(input.schemaId)?.definition ?? {};
  const prompt = buildPrompt({
    persona: input.context.persona,
    phaseTitle: phase.title,
    instructions: phase.instructions,
    issueTitle: run.issueTitle,
    requirements: run.requirements,
    earlierArtifacts: input.context.earlierArtifacts,
    feedback: attempt.feedback,
    repairErrors: input.repairErrors,
    agentsMd: input.agentsMd,
    schemaId: input.schemaId,
    schema,
    outputPath: input.outputPath,
  });
  const registration = await engine.registerExecution({
    runId: run.id,
    attemptId: attempt.id,
    revision: input.revision,
    backend: runner.backend,
    worker: WORKER_ID,
    prompt: deps.secrets.redact(prompt),
  });
  if (registration.status === "stale") return { kind: "stale" };
  if (registration.status === "orphaned") {
    log.warn(
      { revision: input.revision },
      "a previous try of this attempt died mid-execution; starting a new attempt",
    );
    await engine.supersedeAttempt({
      runId: run.id,
      attemptId: attempt.id,
      code: "worker_lost",
      message: "the worker running this attempt stopped before it finished",
    });
    return { kind: "handed_back" };
  }
  const { executionId } = registration;
  const ioDir = join(deps.executionsDir, executionId);
  await mkdir(ioDir, { recursive: true });
  await writeFile(join(ioDir, "prompt.md"), prompt);
  await writeFile(join(ioDir, "schema.json"), JSON.stringify(schema, null, 2));
  const view = runner.view({ workspace: input.workspace.path, ioDir });
  let result: Awaited<ReturnType<typeof runExecution>>;
  const meter = input.adapter.meter?.(deps.agentOptions);
  const leftUsd =
    input.context.budgetLeftUsd === null
      ? undefined
      : input.context.budgetLeftUsd - (input.usage.fields().costUsd ?? 0);
  try {
    const command = input.adapter.command({
      view,
      promptFile: `${view.io}/prompt.md`,
      schemaFile: `${view.io}/schema.json`,
      outputPath: input.outputPath,
      schemaId: input.schemaId,
      options: deps.agentOptions,
      env: Object.fromEntries(input.adapter.passEnv.map((name) => [name, process.env[name]])),
      ...(input.adapter.name === "scripted"
        ? {
            scenario: resolveScenario(
              run.agentConfig.scripted,
              phase.phaseKey,
              attempt.attempt,
              input.revision,
            ),
          }
        : {}),
    });
    result = await runExecution(
      deps,
      {
        executionId,
        runId: run.id,
        phaseKey: phase.phaseKey,
        attempt: attempt.attempt,
        revision: input.revision,
        workspace: input.workspace.path,
        ioDir,
        command,
        passEnv: input.adapter.passEnv,
        readOnly: input.workspace.readOnly,
        egress: { rules: [...input.adapter.egress(process.env), ...deps.egressAllow] },
        onEgressDenied: (denial) =>
          log.info({ executionId, denial }, "the sandbox refused a connection"),
        timeoutMs: deps.attemptTimeoutMs,
      },
      // Metered whenever the agent reports usage as it goes: the phase shows its cost so
      // far, and with a budget the agent is stopped once it spends what is left.
      meter === undefined ? undefined : { meter, leftUsd: leftUsd ?? Number.POSITIVE_INFINITY },
    );
  } catch (error) {
    log.error({ err: error }, "the runner failed");
    await engine.finishExecution({
      runId: run.id,
      executionId,
      state: "failed",
      exit: { error: (error as Error).message },
    });
    return {
      kind: "failed",
      failure: fromError(error, "runner", "runner_failed", `the ${runner.backend} runner failed`),
      egressDenied: [],
    };
  }
  const { exit, transcript } = result;
  const egressDenied = exit.egressDenied ?? [];
  if (deps.shutdown?.aborted) {
    // Stopped for shutdown: the phase goes on as a new attempt, on any worker.
    log.info("handing the attempt back: this worker is stopping");
    await engine.supersedeAttempt({
      runId: run.id,
      attemptId: attempt.id,
      code: "worker_stopped",
      message: "the worker was stopped before the agent finished; the phase runs again",
      handedBack: true,
    });
    return { kind: "handed_back" };
  }
  if (result.overBudgetUsd !== undefined && leftUsd !== undefined) {
    const outcome = input.adapter.interpret({ exitCode: exit.exitCode, transcript });
    input.usage.add({ ...outcome, costUsd: Math.max(outcome.costUsd ?? 0, result.overBudgetUsd) });
    return {
      kind: "failed",
      failure: {
        kind: "failed",
        errorClass: "recoverable",
        failure: {
          category: "budget",
          code: "budget_exhausted",
          message: `the agent was stopped after spending about $${result.overBudgetUsd.toFixed(3)}, more than the $${Math.max(0, leftUsd).toFixed(3)} the run's budget had left; its work so far is committed`,
        },
      },
      egressDenied,
    };
  }
  if (exit.stopped) return { kind: "stopped" };
  const outcome = input.adapter.interpret({ exitCode: exit.exitCode, transcript });
  input.usage.add(outcome);
  if (exit.timedOut) {
    return {
      kind: "failed",
      failure: {
        kind: "failed",
        errorClass: "recoverable",
        failure: {
          category: "timeout",
          code: "attempt_timeout",
          message: `the agent did not finish within ${Math.round(deps.attemptTimeoutMs / 1000)} s and was stopped`,
        },
      },
      egressDenied,
    };
  }
  if (outcome.error !== undefined || exit.exitCode !== 0) {
    return {
      kind: "failed",
      failure: agentFailure({
        adapterName: input.adapter.name,
        outcome,
        exit,
        transcript,
        secrets: deps.secrets,
      }),
      egressDenied,
    };
  }
  const artifact = await checkArtifact({
    registry: deps.registry,
    schemaId: input.schemaId,
    workspace: input.workspace.path,
    outputPath: input.outputPath,
    revision: input.revision,
  });
  return { kind: "artifact", artifact, egressDenied };
}
