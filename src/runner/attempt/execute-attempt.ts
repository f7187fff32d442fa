import type { AgentAdapter } from "../../agents/agent-adapter.ts";
import { AGENT_ADAPTERS } from "../../agents/agent-adapters.ts";
import type { AttemptContext } from "../../engine/get-attempt-context.ts";
import type { ExecutePhasePayload } from "../../engine/outbox.ts";
import type { ProducedArtifact } from "../../engine/record-phase-result.ts";
import { runDirectory } from "../../report/final-report.ts";
import { removeAgentFile } from "../agent-files.ts";
import type { EgressDenial } from "../sandbox/egress-proxy.ts";
import type { Workspace, Workspaces } from "../workspaces/workspaces.ts";
import { type Failure, failed, fromError } from "./attempt-failure.ts";
import { type AttemptHeartbeat, startAttemptHeartbeat } from "./attempt-heartbeat.ts";
import { createAttemptUsage } from "./attempt-usage.ts";
import { commitWork } from "./commit-work.ts";
import { type RunRevisionDeps, runRevision } from "./run-revision.ts";

export interface ExecuteAttemptDeps extends RunRevisionDeps {
  /** The agent used when the template binds none to the role (`DEVFLOW_AGENT`). */
  defaultAgent: string | undefined;
  /** Git checkouts for runs with a repository to clone; scratch directories otherwise. */
  workspaces: { git: Workspaces; scratch: Workspaces };
}

/** The most of AGENTS.md a prompt quotes. */
const AGENTS_MD_LIMIT = 64 * 1024;

function unknownAgent(agentName: string | undefined, role: string): Failure {
  const known = [...AGENT_ADAPTERS.keys()].join(", ");
  return failed(
    "fatal",
    "agent_error",
    "agent_not_configured",
    agentName === undefined
      ? `no coding agent is configured for role ${role}: set DEVFLOW_AGENT (${known}) and start the run again`
      : `unknown agent "${agentName}" for role ${role}: DEVFLOW_AGENT must be one of ${known}`,
  );
}

/**
 * Executes one attempt of one phase: prepares the workspace (the run branch as it
 * is on the remote), runs the agent in its sandbox, validates its artifact
 * against the phase's schema, re-prompts once with the validation errors if it
 * is invalid, commits what the attempt produced (partial work too) unless it
 * holds a protected value, and reports the outcome for `(phaseId, attempt)`. A
 * stale job (its attempt no longer running) does nothing; a job whose previous
 * try died mid-execution hands the phase to a new attempt.
 */
export async function executeAttempt(
  deps: ExecuteAttemptDeps,
  payload: ExecutePhasePayload,
): Promise<void> {
  const context = await deps.engine.getAttemptContext(payload.attemptId);
  if (context === null) return;
  const log = deps.log.child({
    phaseKey: context.phase.phaseKey,
    attempt: context.attempt.attempt,
  });
  const heartbeat = startAttemptHeartbeat({
    engine: deps.engine,
    attemptId: context.attempt.id,
    intervalMs: deps.heartbeatMs,
    log,
  });
  try {
    await runAttempt({ ...deps, log }, context, heartbeat);
  } finally {
    heartbeat.stop();
  }
}

async function runAttempt(
  deps: ExecuteAttemptDeps,
  context: AttemptContext,
  heartbeat: AttemptHeartbeat,
): Promise<void> {
  const { engine, log } = deps;
  const { run, phase, attempt } = context;
  const artifacts: ProducedArtifact[] = [];
  const usage = createAttemptUsage();
  const egressDenied: EgressDenial[] = [];
  const report = (
    outcome: Failure | { kind: "succeeded" } | { kind: "invalid_artifact" },
    commitSha: string | null = null,
  ) =>
    engine.recordPhaseResult({
      runId: run.id,
      phaseId: phase.id,
      attemptId: attempt.id,
      attempt: attempt.attempt,
      outcome,
      // What devflow stores (and may later show) of an artifact holds no protected value.
      artifacts: artifacts.map((artifact) => ({
        ...artifact,
        content:
          artifact.content === null
            ? null
            : (JSON.parse(deps.secrets.redact(JSON.stringify(artifact.content))) as unknown),
      })),
      ...usage.fields(),
      ...(egressDenied.length === 0 ? {} : { egressDenied }),
      ...(commitSha === null ? {} : { commitSha }),
    });

  const agentName = context.agent ?? deps.defaultAgent;
  const adapter: AgentAdapter | undefined =
    agentName === undefined ? undefined : AGENT_ADAPTERS.get(agentName);
  const schemaId = phase.artifactSchema;
  if (adapter === undefined || schemaId === null) {
    await report(unknownAgent(agentName, phase.role));
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
  // What an earlier attempt committed there is not this attempt's answer.
  await removeAgentFile(workspace.path, outputPath);
  const agentsMd = (await workspace.readBaseFile("AGENTS.md"))?.slice(0, AGENTS_MD_LIMIT) ?? null;

  let failure: Failure | null = null;
  for (const revision of [1, 2]) {
    if (heartbeat.stopped) return;
    const result = await runRevision(deps, {
      context,
      adapter,
      workspace,
      schemaId,
      outputPath,
      revision,
      repairErrors: artifacts.at(-1)?.errors ?? [],
      agentsMd,
      usage,
    });
    if (result.kind === "stale" || result.kind === "handed_back" || result.kind === "stopped") {
      return;
    }
    egressDenied.push(...result.egressDenied);
    if (result.kind === "failed") {
      failure = result.failure;
      break;
    }
    artifacts.push(result.artifact);
    if (result.artifact.valid) break;
    log.info({ revision, errors: result.artifact.errors.slice(0, 5) }, "artifact invalid");
  }

  // Stopped meanwhile (paused, aborted, superseded): nothing of this attempt is committed.
  if (heartbeat.stopped) return;
  const valid = failure === null && artifacts.at(-1)?.valid === true;
  let commitSha: string | null = null;
  try {
    commitSha = await commitWork({
      workspace,
      secrets: deps.secrets,
      runId: run.id,
      phase,
      attempt: attempt.attempt,
      schemaId,
      outputPath,
      artifact: valid ? artifacts.at(-1) : undefined,
      why:
        failure?.failure.message ??
        artifacts.at(-1)?.errors.slice(0, 3).join("; ") ??
        "no artifact",
    });
  } catch (error) {
    log.warn({ err: error }, "could not commit the attempt");
    const refused = fromError(error, "git", "git_commit_failed", "could not commit the attempt");
    // A protected value in the work outranks whatever else went wrong.
    failure = refused.failure.category === "secret_detected" ? refused : (failure ?? refused);
  }
  // Before the result is recorded: the run may go on to a step that prepares this
  // workspace again (the branch's end) the moment it is.
  await workspace
    .release()
    .catch((error: unknown) => log.warn({ err: error }, "could not empty the work tree"));
  if (failure !== null) await report(failure, commitSha);
  else if (valid) await report({ kind: "succeeded" }, commitSha);
  else await report({ kind: "invalid_artifact" }, commitSha);
}
