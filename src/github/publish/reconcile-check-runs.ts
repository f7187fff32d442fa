import { createHash } from "node:crypto";
import type { ProbotOctokit } from "probot";
import { describeActivity } from "../../agents/activity.ts";
import type { PublishedState } from "../../db/schema/index.ts";
import type { PhaseProgress, RunStatus } from "../../engine/get-run-status.ts";
import { HUMAN_GATES } from "../../registry/human-gates.ts";
import { renderArtifactMarkdown } from "../../report/render-artifact-markdown.ts";
import { renderFailureMarkdown } from "../../report/render-failure-markdown.ts";
import { untrusted } from "../../security/untrusted-text.ts";
import { GATE_EXTERNAL_ID_PREFIX } from "../handlers/check-run-requested-action.ts";
import { cut } from "./cut.ts";

/** GitHub's limit for a check run's output summary. */
const OUTPUT_LIMIT = 65_535;

type Conclusion = "success" | "failure" | "neutral" | "cancelled" | "skipped" | "action_required";

export interface DesiredCheck {
  /** Where the publication state keeps it: one per phase, per human gate, and the summary. */
  key: string;
  /** What GitHub sends back with a button click: a pending gate's check names the gate. */
  externalId: string;
  name: string;
  /** The summary check follows the branch head; the others stay on the commit they started on. */
  followsHead: boolean;
  status: "queued" | "in_progress" | "completed";
  conclusion?: Conclusion;
  title: string;
  summary: string;
  /** The output's details: the phase's artifact, rendered. */
  text?: string;
  actions: { label: string; description: string; identifier: string }[];
  /** The run's page in devflow's console, when devflow knows its public address. */
  detailsUrl?: string;
}

/**
 * A running phase gets its check once it has run this long: an agent that answers
 * within it is shown once, completed, instead of created running and updated.
 */
export const SHOW_RUNNING_AFTER_MS = 5_000;

const ACTIONS = {
  approve: { label: "Approve", description: "Approve this gate", identifier: "approve" },
  request_changes: {
    label: "Request changes",
    description: "Run the phase again",
    identifier: "request_changes",
  },
  reject: { label: "Reject", description: "Fail the run", identifier: "reject" },
} as const;

const PHASE: Record<string, Pick<DesiredCheck, "status" | "conclusion">> = {
  pending: { status: "queued" },
  running: { status: "in_progress" },
  awaiting_approval: { status: "completed", conclusion: "success" },
  completed: { status: "completed", conclusion: "success" },
  failed: { status: "completed", conclusion: "failure" },
  skipped: { status: "completed", conclusion: "skipped" },
};

const GATE: Record<string, Conclusion> = {
  approved: "success",
  rejected: "failure",
  changes_requested: "neutral",
  aborted: "cancelled",
};

const RUN: Record<string, Conclusion> = {
  completed: "success",
  failed: "failure",
  aborted: "cancelled",
};

function phaseSummary(status: RunStatus, phase: RunStatus["phases"][number]): string {
  return [
    `Phase \`${phase.phaseKey}\` of run \`${status.run.id}\`, attempt ${phase.attempts} of at most ${phase.maxAttempts}.`,
    phase.artifactSchema === null
      ? "It has no artifact to produce."
      : `Artifact: \`.devflow/runs/${status.run.id}/${phase.phaseKey}.json\` (${phase.artifactSchema}).`,
    phase.failure === null ? "" : renderFailureMarkdown(phase.failure),
    (phase.egressDenied ?? []).length === 0
      ? ""
      : `**The sandbox refused the agent:** ${(phase.egressDenied ?? [])
          .slice(0, 10)
          .map(
            (denial) =>
              `${untrusted.code(`${denial.host}:${denial.port}`)} (${untrusted.inline(denial.reason)})`,
          )
          .join(", ")}. An operator can allow a destination with \`DEVFLOW_EGRESS_ALLOW\`.`,
  ]
    .filter((line) => line !== "")
    .join("\n\n");
}

/** How often a running phase's check is brought up to date (elapsed, activity, cost). */
export const PROGRESS_EVERY_MS = 20_000;

/** "3 min 5 s", "42 s". */
export function elapsed(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  const minutes = Math.floor(seconds / 60);
  return minutes === 0 ? `${seconds} s` : `${minutes} min ${seconds % 60} s`;
}

/** A running phase as people watch it: how long, which attempt, the cost so far, what now. */
function watchPhase(
  progress: PhaseProgress,
  now: number,
  everyMs: number,
): { summary: string; text: string } {
  const cost = progress.costUsd === null ? "" : `, $${progress.costUsd.toFixed(2)} so far`;
  const activity = describeActivity(progress.transcriptTail);
  return {
    summary: `Running for ${elapsed(now - progress.startedAt.getTime())} (attempt ${progress.attempt})${cost}. Brought up to date about every ${Math.round(everyMs / 1000)} s while it runs.`,
    text:
      activity.length === 0
        ? ""
        : [
            "What the agent is doing now (its latest steps):",
            "",
            ...activity.map((line) => `- ${untrusted.code(line)}`),
          ].join("\n"),
  };
}

/**
 * What the run's check runs should say now, and when to look again (a phase
 * running but not yet shown). A phase has its check once it ended or has run for
 * SHOW_RUNNING_AFTER_MS; a pending phase has none. A phase's gate lives on the
 * phase's own check: waiting, it is `action_required` with the buttons and names the
 * gate; decided, the phase's state shows. Human gates (budget, retries) have a
 * check of their own; the summary check `devflow` is written once, at the end.
 */
export function desiredChecks(
  status: RunStatus,
  {
    now = Date.now(),
    showRunningAfterMs = SHOW_RUNNING_AFTER_MS,
    progressEveryMs = PROGRESS_EVERY_MS,
  } = {},
): { checks: DesiredCheck[]; revisitInMs: number | undefined } {
  const { run } = status;
  const checks: DesiredCheck[] = [];
  let revisitInMs: number | undefined;
  const latestGate = new Map<string, RunStatus["approvals"][number]>();
  for (const approval of status.approvals) {
    if (approval.kind === "gate" && approval.phaseId !== null)
      latestGate.set(approval.phaseId, approval);
  }
  for (const phase of status.phases) {
    if (phase.state === "pending") continue;
    const progress = phase.state === "running" ? status.progress.get(phase.id) : undefined;
    if (phase.state === "running") {
      const started = progress?.startedAt ?? phase.startedAt;
      const ranMs = now - (started?.getTime() ?? now);
      // Shown once it has run a while, then brought up to date every progressEveryMs.
      const wait = ranMs < showRunningAfterMs ? showRunningAfterMs - ranMs : progressEveryMs;
      revisitInMs = Math.min(revisitInMs ?? wait, wait);
      if (ranMs < showRunningAfterMs) continue;
    }
    const gate = latestGate.get(phase.id);
    const watched = progress === undefined ? undefined : watchPhase(progress, now, progressEveryMs);
    const summary =
      phaseSummary(status, phase) + (watched === undefined ? "" : `\n\n${watched.summary}`);
    // The person at a gate reads what they approve where they click.
    const artifact = status.artifacts.get(phase.id);
    const shown =
      artifact === undefined || watched !== undefined
        ? watched === undefined || watched.text === ""
          ? {}
          : { text: watched.text }
        : {
            text: `${artifact.valid ? "" : "**This artifact did not validate.**\n\n"}${renderArtifactMarkdown(artifact.schemaId, phase.title, artifact.content)}`,
          };
    if (phase.state === "awaiting_approval" && gate?.state === "pending") {
      checks.push({
        key: `devflow-phase:${phase.id}`,
        externalId: `${GATE_EXTERNAL_ID_PREFIX}${gate.id}`,
        name: `devflow / ${phase.phaseKey}`,
        followsHead: false,
        status: "completed",
        conclusion: "action_required",
        title: `${untrusted.line(phase.title)}: waiting for a decision at ${gate.gateKey}`,
        summary: `${summary}\n\nReview the pull request: **Approve** goes on, **Request changes** runs the phase again with your review; \`/devflow approve\` or the buttons here do the same.`,
        ...shown,
        actions: Object.values(ACTIONS),
      });
      continue;
    }
    const decided =
      gate === undefined || gate.state === "pending"
        ? ""
        : `\n\nGate \`${gate.gateKey}\`: ${gate.state.replaceAll("_", " ")}${gate.resolvedBy ? ` by ${gate.resolvedBy}` : ""}.`;
    checks.push({
      key: `devflow-phase:${phase.id}`,
      externalId: `devflow-phase:${phase.id}`,
      name: `devflow / ${phase.phaseKey}`,
      followsHead: false,
      ...(PHASE[phase.state] ?? { status: "queued" as const }),
      title: `${untrusted.line(phase.title)}: ${phase.state.replaceAll("_", " ")}`,
      summary: summary + decided,
      ...shown,
      actions: [],
    });
  }
  // Human gates: the latest request of each gate key.
  const human = new Map(
    status.approvals
      .filter((approval) => approval.kind === "human_required")
      .map((approval) => [approval.gateKey, approval]),
  );
  for (const gate of human.values()) {
    const pending = gate.state === "pending";
    const allowed = (HUMAN_GATES as Record<string, readonly string[]>)[gate.gateKey] ?? [];
    checks.push({
      // Per request: a gate raised again gets a check of its own, on the head.
      key: `devflow-human-gate:${gate.id}`,
      externalId: `${GATE_EXTERNAL_ID_PREFIX}${gate.id}`,
      name: `devflow / gate: ${gate.gateKey}`,
      followsHead: false,
      ...(pending
        ? { status: "completed" as const, conclusion: "action_required" as const }
        : { status: "completed" as const, conclusion: GATE[gate.state] ?? "neutral" }),
      title: pending
        ? `Waiting for a decision at ${gate.gateKey}`
        : `${gate.gateKey}: ${gate.state.replaceAll("_", " ")}${gate.resolvedBy ? ` by ${gate.resolvedBy}` : ""}`,
      summary: pending
        ? `${gate.reason === null ? "A person must decide." : `A person must decide:${untrusted.trailing(gate.reason)}`}\n\nDecide with \`/devflow approve\` or the buttons here.`
        : `Decided ${gate.resolvedAt?.toISOString() ?? ""}.`,
      actions: pending ? allowed.map((action) => ACTIONS[action as keyof typeof ACTIONS]) : [],
    });
  }
  const terminal = RUN[run.state];
  // On the branch's final head: once the branch is finished (its report committed).
  if (terminal !== undefined && !status.branchFinishing) {
    checks.push({
      key: `devflow-run:${run.id}`,
      externalId: `devflow-run:${run.id}`,
      name: "devflow",
      followsHead: true,
      status: "completed",
      conclusion: terminal,
      title: `Run ${run.state.replaceAll("_", " ")}`,
      summary:
        run.failure === null
          ? `Run \`${run.id}\`: ${run.state.replaceAll("_", " ")}.`
          : renderFailureMarkdown(run.failure),
      actions: [],
    });
  }
  return { checks, revisitInMs };
}

type PublishedChecks = NonNullable<PublishedState["checkRuns"]>;

/**
 * Creates each check run once (the summary check again whenever the branch head
 * moves, so branch protection sees it on the head) and updates it only when what
 * it says changed. A phase shown while it ran sits on the commit before it; when it
 * ends on a newer commit its check moves there (the old one is closed as moved), so
 * its outcome, and its gate's buttons, are on the commit the phase made. `save`
 * stores the published state after every write: a failure half-way never loses the
 * id of a check run already created.
 */
export async function reconcileCheckRuns(
  octokit: ProbotOctokit,
  target: { owner: string; repo: string },
  headSha: string,
  published: PublishedChecks,
  checks: DesiredCheck[],
  save: (next: PublishedChecks) => Promise<void>,
): Promise<PublishedChecks> {
  const next = { ...published };
  for (const check of checks) {
    const output = {
      title: check.title.slice(0, 255),
      summary: cut(check.summary, OUTPUT_LIMIT, "in devflow's database"),
      ...(check.text === undefined
        ? {}
        : { text: cut(check.text, OUTPUT_LIMIT, "in the artifact on the run branch") }),
    };
    const body = {
      name: check.name,
      status: check.status,
      ...(check.conclusion === undefined ? {} : { conclusion: check.conclusion }),
      output,
      actions: check.actions,
      external_id: check.externalId,
      ...(check.detailsUrl === undefined ? {} : { details_url: check.detailsUrl }),
    };
    const digest = createHash("sha256").update(JSON.stringify(body)).digest("hex").slice(0, 16);
    const running = check.status !== "completed";
    const known = next[check.key];
    const moves =
      known !== undefined &&
      !check.followsHead &&
      known.running === true &&
      !running &&
      known.sha !== headSha;
    if (known !== undefined && !moves && (!check.followsHead || known.sha === headSha)) {
      if (known.hash !== digest) {
        await octokit.rest.checks.update({
          owner: target.owner,
          repo: target.repo,
          check_run_id: known.id,
          ...body,
        });
        next[check.key] = { ...known, hash: digest, running };
        await save({ ...next });
      }
      continue;
    }
    const { data } = await octokit.rest.checks.create({
      owner: target.owner,
      repo: target.repo,
      head_sha: headSha,
      ...body,
    });
    next[check.key] = { id: data.id, sha: headSha, hash: digest, running };
    await save({ ...next });
    if (moves && known !== undefined) {
      await octokit.rest.checks.update({
        owner: target.owner,
        repo: target.repo,
        check_run_id: known.id,
        status: "completed",
        conclusion: "neutral",
        output: {
          title: `Moved to ${headSha.slice(0, 7)}`,
          summary: `This phase's check continues on the commit it made, ${headSha}.`,
        },
        actions: [],
      });
    }
  }
  return next;
}
