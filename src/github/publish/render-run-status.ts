import type { RunStatus } from "../../engine/get-run-status.ts";
import type { FinalReport } from "../../report/final-report.ts";
import { renderFailureMarkdown } from "../../report/render-failure-markdown.ts";
import { renderWork } from "../../report/render-report-markdown.ts";
import { untrusted } from "../../security/untrusted-text.ts";
import { cut } from "./cut.ts";
import { SHOW_RUNNING_AFTER_MS } from "./reconcile-check-runs.ts";

/** GitHub's limit for an issue or pull request comment, and a pull request body. */
export const COMMENT_LIMIT = 65_536;

const NEXT_STEP: Record<string, string> = {
  awaiting_approval:
    "Review the pull request: **Approve** to go on, **Request changes** to rerun the phase with your review, or use the gate's check run buttons.",
  paused: "The run is paused: `/devflow resume` continues it.",
  queued: "devflow is at its limit of active runs: this one starts when a slot frees.",
};

/**
 * Whether the run is where its status comment must say more than where to look:
 * waiting in the queue, paused, at a gate only a person can decide, stuck, or over.
 * Otherwise (a phase running, a gate waiting for a review of the pull request) the
 * pull request's checks show the progress, and the comment does not change.
 */
export function statusNeedsWords(status: RunStatus): boolean {
  const { run } = status;
  if (["queued", "paused", "completed", "failed", "aborted"].includes(run.state)) return true;
  if (status.stuck.length > 0) return true;
  return status.approvals.some(
    (approval) => approval.kind === "human_required" && approval.state === "pending",
  );
}

/**
 * One line on the phase an agent works on now: its attempt, whole minutes and the
 * cost to a tenth of a dollar, so the comment changes about once a minute at most
 * (the phase's check has the detail, every PROGRESS_EVERY_MS).
 */
export function progressLine(status: RunStatus, showAfterMs = SHOW_RUNNING_AFTER_MS): string {
  const phase = status.phases.find((row) => row.state === "running");
  const progress = phase === undefined ? undefined : status.progress.get(phase.id);
  if (phase === undefined || progress === undefined) return "";
  const ranMs = Date.now() - progress.startedAt.getTime();
  // Like its check: an agent that answers within a few seconds is never shown working.
  if (ranMs < showAfterMs) return "";
  const minutes = Math.floor(ranMs / 60_000);
  const cost = progress.costUsd === null ? "" : `, about $${progress.costUsd.toFixed(1)} so far`;
  return `\n\nNow: \`${phase.phaseKey}\`, attempt ${progress.attempt}, ${minutes === 0 ? "under a minute" : `${minutes} min`}${cost}.`;
}

/**
 * The issue's one devflow comment: where the run's pull request is while the run
 * makes ordinary progress, its whole state when people need to know or act.
 */
export function renderRunStatus(
  status: RunStatus,
  pullRequestNumber: number | null,
  /** The run's page in devflow's console, when devflow knows its public address. */
  pageUrl?: string,
  /** How long a phase runs before it is shown working (SHOW_RUNNING_AFTER_MS). */
  showAfterMs?: number,
): string {
  const marker = `<!-- devflow-status:${status.run.id} -->\n`;
  const link =
    pageUrl === undefined ? "" : `\n\n[Follow this run in devflow's console](${pageUrl})`;
  if (!statusNeedsWords(status) && pullRequestNumber === null) {
    // The first phase, before the branch has a commit a check could sit on.
    const { run } = status;
    return `${marker}**devflow** run \`${run.id}\` (${run.templateName}@${run.templateVersion}) is working on this; its pull request opens once the first phase has committed.${progressLine(status, showAfterMs)}${link}`;
  }
  if (!statusNeedsWords(status) && pullRequestNumber !== null) {
    const { run } = status;
    return `${marker}**devflow** run \`${run.id}\` (${run.templateName}@${run.templateVersion}) is working on this in #${pullRequestNumber}: each phase shows as a check there, and its gates wait for your review of the pull request. This comment says how the run ended.${progressLine(status, showAfterMs)}${link}`;
  }
  return (
    marker +
    renderRunSummary(status, pullRequestNumber, COMMENT_LIMIT - marker.length - link.length) +
    link
  );
}

/** The run's state, next step, failure, phases and branch: the status comment and `/devflow status`. */
export function renderRunSummary(
  status: RunStatus,
  pullRequestNumber: number | null,
  limit = COMMENT_LIMIT,
): string {
  const { run } = status;
  const gate = status.approvals.find((approval) => approval.state === "pending");
  const lines = [
    `**devflow** run \`${run.id}\` (${run.templateName}@${run.templateVersion}) is **${run.state.replaceAll("_", " ")}**${gate === undefined ? "" : ` at gate \`${gate.gateKey}\``}.`,
    "",
  ];
  const next =
    gate?.kind === "human_required"
      ? gate.reason === null
        ? `A person must decide at \`${gate.gateKey}\`.`
        : `A person must decide at \`${gate.gateKey}\`:${untrusted.trailing(gate.reason)}`
      : status.queue !== null
        ? `Waiting in the queue, position ${status.queue.position}: ${status.queue.reason} (the ${status.queue.cap === "repository" ? "repository's" : "global"} cap). Runs waiting at a gate or paused do not count; this one starts when a slot frees.`
        : NEXT_STEP[run.state];
  if (next !== undefined) lines.push(next, "");
  if (run.failure !== null && (run.state === "failed" || run.state === "aborted")) {
    lines.push(renderFailureMarkdown(run.failure), "");
  }
  for (const job of status.stuck) {
    lines.push(
      `**Stuck:** devflow's \`${job.queue}\` job for this run failed every retry (${untrusted.inline(job.error)}). An operator can retry it: \`devflow jobs retry ${job.id}\`.`,
      "",
    );
  }
  lines.push("| phase | state | attempts |", "|---|---|---|");
  for (const phase of status.phases)
    lines.push(`| ${phase.phaseKey} | ${phase.state.replaceAll("_", " ")} | ${phase.attempts} |`);
  lines.push(
    "",
    `Branch \`${run.branch}\`${pullRequestNumber === null ? "" : `, pull request #${pullRequestNumber}`}.`,
  );
  return cut(lines.join("\n"), limit, "in devflow's database");
}

/**
 * The run's pull request body: what it closes and how to steer it, written when
 * the pull request opens; rewritten once when the run completes, to lead with what
 * was built (the report's work, open questions and risks) and where its files are.
 * The progress is in the checks, the whole outcome in the report comment.
 */
export function renderPullRequestBody(status: RunStatus, where: string | null = null): string {
  const { run } = status;
  const json = status.report?.json as FinalReport | undefined;
  const work = json === undefined ? [] : renderWork(json);
  return cut(
    [
      `Closes #${run.issueNumber}`,
      "",
      ...work,
      ...(where === null ? [] : [where, ""]),
      `devflow run \`${run.id}\` (${run.templateName}@${run.templateVersion}). Each phase commits its artifact under \`.devflow/runs/${run.id}/\` and shows as a check on this pull request. Review it to decide a gate: **Approve** to go on, **Request changes** to run the phase again with your review. The report is posted here as a comment when the run ends.`,
      "",
      `<!-- devflow-run:${run.id} -->`,
    ].join("\n"),
    COMMENT_LIMIT,
    "in the issue's devflow comment",
  );
}
