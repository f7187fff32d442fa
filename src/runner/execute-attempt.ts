import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Logger } from "pino";
import type { AgentOptions, AgentOutcome } from "../agents/agent-adapter.ts";
import { AGENT_ADAPTERS } from "../agents/agent-adapters.ts";
import { resolveScenario } from "../agents/scripted/scenarios.ts";
import type { Engine } from "../engine/create-engine.ts";
import type { ExecutePhasePayload } from "../engine/outbox.ts";
import type { PhaseResultInput, ProducedArtifact } from "../engine/record-phase-result.ts";
import { isDevflowError } from "../errors.ts";
import { WORKER_ID } from "../log.ts";
import type { Registry } from "../registry/types.ts";
import { runDirectory } from "../report/final-report.ts";
import { renderArtifactMarkdown } from "../report/render-artifact-markdown.ts";
import { buildPrompt } from "./build-prompt.ts";
import type { Runner, RunnerExit, RunnerRequest } from "./runner.ts";
import type { Workspace, Workspaces } from "./workspaces/workspaces.ts";

export interface ExecuteAttemptDeps {
  engine: Engine;
  runner: Runner;
  registry: Registry;
  log: Logger;
  /** The agent used when the template binds none to the role (`DEVFLOW_AGENT`). */
  defaultAgent: string | undefined;
  agentOptions: AgentOptions;
  heartbeatMs: number;
  attemptTimeoutMs: number;
  /** Git checkouts for runs with a repository to clone; scratch directories otherwise. */
  workspaces: { git: Workspaces; scratch: Workspaces };
  /** Where each execution keeps its own files: prompt, schema, transcript. */
  executionsDir: string;
  /** Aborted when this worker is shutting down and running attempts must be handed back. */
  shutdown?: AbortSignal | undefined;
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

function fromError(error: unknown, category: string, code: string, what: string): Failure {
  if (isDevflowError(error)) {
    return failed(
      error.class === "fatal" ? "fatal" : "recoverable",
      error.category,
      error.code,
      error.message,
    );
  }
  return failed("recoverable", category, code, `${what}: ${(error as Error).message}`);
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

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return null;
  }
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
): Promise<{ exit: RunnerExit; transcript: string }> {
  const { engine, runner } = deps;
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
  let transcript: Awaited<ReturnType<Runner["capture"]>>;
  try {
    transcript = await runner.capture(handle, 0);
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
    exit: { exitCode: exit.exitCode, timedOut: exit.timedOut, stopped: exit.stopped },
    transcript,
    disposed: true,
  });
  return { exit, transcript: transcript.map((chunk) => chunk.text).join("") };
}

/**
 * Executes one attempt of one phase: prepares the workspace (the run branch as it
 * is on the remote), runs the agent, validates its artifact against the phase's
 * schema, re-prompts once with the validation errors if it is invalid, commits
 * what the attempt produced (partial work too) with its trailers, and reports the
 * outcome for `(phaseId, attempt)`. A stale job (its attempt no longer running)
 * does nothing; a job whose previous try died mid-execution hands the phase to a
 * new attempt.
 */
export async function executeAttempt(
  deps: ExecuteAttemptDeps,
  payload: ExecutePhasePayload,
): Promise<void> {
  const { engine, registry, runner } = deps;
  const context = await engine.getAttemptContext(payload.attemptId);
  if (context === null) return;
  const { run, phase, attempt } = context;
  const log = deps.log.child({ phaseKey: phase.phaseKey, attempt: attempt.attempt });
  const artifacts: ProducedArtifact[] = [];
  // Cost and tokens are recorded only when the tool reported them, each on its own:
  // codex reports tokens and no cost.
  const usage = {
    costUsd: 0,
    costReported: false,
    tokens: { input: 0, output: 0 },
    tokensReported: false,
  };
  const report = (outcome: PhaseResultInput["outcome"], commitSha: string | null = null) =>
    engine.recordPhaseResult({
      runId: run.id,
      phaseId: phase.id,
      attemptId: attempt.id,
      attempt: attempt.attempt,
      outcome,
      artifacts,
      ...(usage.costReported ? { costUsd: usage.costUsd } : {}),
      ...(usage.tokensReported ? { tokens: usage.tokens } : {}),
      ...(commitSha === null ? {} : { commitSha }),
    });
  const count = (outcome: AgentOutcome) => {
    if (outcome.costUsd !== undefined) {
      usage.costUsd += outcome.costUsd;
      usage.costReported = true;
    }
    if (outcome.tokens !== undefined) {
      usage.tokens.input += outcome.tokens.input ?? 0;
      usage.tokens.output += outcome.tokens.output ?? 0;
      usage.tokensReported = true;
    }
  };

  const agentName = context.agent ?? deps.defaultAgent;
  const adapter = agentName === undefined ? undefined : AGENT_ADAPTERS.get(agentName);
  const schemaId = phase.artifactSchema;
  if (adapter === undefined || schemaId === null) {
    const known = [...AGENT_ADAPTERS.keys()].join(", ");
    await report(
      failed(
        "fatal",
        "agent_error",
        "agent_not_configured",
        agentName === undefined
          ? `no coding agent is configured for role ${phase.role}: set DEVFLOW_AGENT (${known}) and start the run again`
          : `unknown agent "${agentName}" for role ${phase.role}: DEVFLOW_AGENT must be one of ${known}`,
      ),
    );
    return;
  }

  let workspace: Workspace;
  try {
    workspace = await (run.cloneUrl === null
      ? deps.workspaces.scratch
      : deps.workspaces.git
    ).prepare(run);
  } catch (error) {
    log.warn({ err: error }, "could not prepare the workspace");
    await report(
      fromError(error, "git", "workspace_prepare_failed", "could not prepare the workspace"),
    );
    return;
  }
  const outputPath = `${runDirectory(run.id)}/${phase.phaseKey}.json`;
  const outputFile = join(workspace.path, outputPath);
  // What an earlier attempt left there is not this attempt's answer.
  await rm(outputFile, { force: true });
  const agentsMd = await readIfExists(join(workspace.path, "AGENTS.md"));

  let failure: Failure | null = null;
  for (const revision of [1, 2]) {
    const registration = await engine.registerExecution({
      runId: run.id,
      attemptId: attempt.id,
      revision,
      backend: runner.backend,
      worker: WORKER_ID,
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
    const ioDir = join(deps.executionsDir, registration.executionId);
    await mkdir(ioDir, { recursive: true });
    await writeFile(
      join(ioDir, "prompt.md"),
      buildPrompt({
        persona: context.persona,
        phaseTitle: phase.title,
        instructions: phase.instructions,
        issueTitle: run.issueTitle,
        requirements: run.requirements,
        earlierArtifacts: context.earlierArtifacts,
        feedback: attempt.feedback,
        repairErrors: artifacts.at(-1)?.errors ?? [],
        agentsMd,
        schemaId,
        schema: registry.schemas.get(schemaId)?.definition ?? {},
        outputPath,
      }),
    );
    await writeFile(
      join(ioDir, "schema.json"),
      JSON.stringify(registry.schemas.get(schemaId)?.definition ?? {}, null, 2),
    );
    const view = runner.view({ workspace: workspace.path, ioDir });
    let result: { exit: RunnerExit; transcript: string };
    try {
      const command = adapter.command({
        view,
        promptFile: `${view.io}/prompt.md`,
        schemaFile: `${view.io}/schema.json`,
        outputPath,
        schemaId,
        options: deps.agentOptions,
        ...(adapter.name === "scripted"
          ? {
              scenario: resolveScenario(
                run.agentConfig.scripted,
                phase.phaseKey,
                attempt.attempt,
                revision,
              ),
            }
          : {}),
      });
      result = await runExecution(deps, registration.executionId, {
        executionId: registration.executionId,
        runId: run.id,
        phaseKey: phase.phaseKey,
        attempt: attempt.attempt,
        revision,
        workspace: workspace.path,
        ioDir,
        command,
        passEnv: adapter.passEnv,
        timeoutMs: deps.attemptTimeoutMs,
      });
    } catch (error) {
      log.error({ err: error }, "the runner failed");
      await engine.finishExecution({
        runId: run.id,
        executionId: registration.executionId,
        state: "failed",
        exit: { error: (error as Error).message },
      });
      failure = fromError(error, "runner", "runner_failed", `the ${runner.backend} runner failed`);
      break;
    }
    const { exit, transcript } = result;
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
      return;
    }
    if (exit.stopped) return;
    const outcome = adapter.interpret({ exitCode: exit.exitCode, transcript });
    count(outcome);
    if (exit.timedOut) {
      failure = failed(
        "recoverable",
        "timeout",
        "attempt_timeout",
        `the agent did not finish within ${Math.round(deps.attemptTimeoutMs / 1000)} s and was stopped`,
      );
      break;
    }
    if (outcome.error !== undefined || exit.exitCode !== 0) {
      failure = failed(
        outcome.error?.fatal === true ? "fatal" : "recoverable",
        "agent_error",
        outcome.error?.code ?? "agent_exit_nonzero",
        outcome.error?.message ?? `the ${adapter.name} agent exited with code ${exit.exitCode}`,
      );
      break;
    }
    const artifact = checkOutput(registry, schemaId, await readIfExists(outputFile), revision);
    artifacts.push(artifact);
    if (artifact.valid) break;
    log.info({ revision, errors: artifact.errors.slice(0, 5) }, "artifact invalid");
  }

  const valid = failure === null && artifacts.at(-1)?.valid === true;
  if (valid) {
    const markdown = renderArtifactMarkdown(schemaId, phase.title, artifacts.at(-1)?.content);
    await mkdir(dirname(outputFile), { recursive: true });
    await writeFile(outputFile.replace(/\.json$/, ".md"), markdown);
  }
  let commitSha: string | null = null;
  try {
    commitSha = await workspace.commit({
      runId: run.id,
      phaseKey: phase.phaseKey,
      attempt: attempt.attempt,
      title: valid
        ? `${phase.title} (attempt ${attempt.attempt})`
        : `partial work of ${phase.title} (attempt ${attempt.attempt})`,
      body: valid
        ? `The ${schemaId} artifact is ${outputPath}.`
        : `The attempt did not produce a valid ${schemaId} artifact: ${failure?.failure.message ?? artifacts.at(-1)?.errors.slice(0, 3).join("; ") ?? "no artifact"}.`,
    });
  } catch (error) {
    log.warn({ err: error }, "could not commit the attempt");
    failure ??= fromError(error, "git", "git_commit_failed", "could not commit the attempt");
  }
  if (failure !== null) await report(failure, commitSha);
  else if (valid) await report({ kind: "succeeded" }, commitSha);
  else await report({ kind: "invalid_artifact" }, commitSha);
}
