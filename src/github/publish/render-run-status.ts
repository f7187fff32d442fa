import type { RunStatus } from "../../engine/get-run-status.ts";

/** GitHub's limit for an issue or pull request comment, and a pull request body. */
export const COMMENT_LIMIT = 65_536;

/** Cuts text to GitHub's limit, saying where the whole of it is. */
export function cut(text: string, limit: number, whole: string): string {
  if (text.length <= limit) return text;
  const note = `\n\n…cut here to fit GitHub's limit; the whole text is ${whole}.`;
  return text.slice(0, limit - note.length) + note;
}

const NEXT_STEP: Record<string, string> = {
  awaiting_approval:
    "Review the pull request: **Approve** to go on, **Request changes** to rerun the phase with your review, or use the gate's check run buttons.",
  paused: "The run is paused: `/devflow resume` continues it.",
  queued: "devflow is at its limit of active runs: this one starts when a slot frees.",
};

/** The run's status as the issue's one devflow comment shows it. */
export function renderRunStatus(status: RunStatus, pullRequestNumber: number | null): string {
  const marker = `<!-- devflow-status:${status.run.id} -->\n`;
  return marker + renderRunSummary(status, pullRequestNumber, COMMENT_LIMIT - marker.length);
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
      ? `A person must decide: ${gate.reason ?? gate.gateKey}.`
      : NEXT_STEP[run.state];
  if (next !== undefined) lines.push(next, "");
  if (run.failure !== null && (run.state === "failed" || run.state === "aborted")) {
    lines.push(`**${run.failure.category}** \`${run.failure.code}\`: ${run.failure.message}`, "");
  }
  for (const job of status.stuck) {
    lines.push(
      `**Stuck:** devflow's \`${job.queue}\` job for this run failed every retry (${job.error}). An operator can retry it: \`devflow jobs retry ${job.id}\`.`,
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

/** The run's pull request body: what it closes, and a live table of its phases and gates. */
export function renderPullRequestBody(status: RunStatus): string {
  const { run } = status;
  const lines = [
    `Closes #${run.issueNumber}`,
    "",
    `devflow run \`${run.id}\` (${run.templateName}@${run.templateVersion}) is **${run.state.replaceAll("_", " ")}**. Each phase commits its artifact under \`.devflow/runs/${run.id}/\`. Review this pull request to decide its gates: **Approve** to go on, **Request changes** to run the phase again with your review.`,
    "",
    "| phase | state | attempts |",
    "|---|---|---|",
    ...status.phases.map(
      (phase) => `| ${phase.phaseKey} | ${phase.state.replaceAll("_", " ")} | ${phase.attempts} |`,
    ),
  ];
  if (status.approvals.length > 0) {
    lines.push("", "| gate | state | by |", "|---|---|---|");
    for (const gate of status.approvals)
      lines.push(
        `| ${gate.gateKey} | ${gate.state.replaceAll("_", " ")} | ${gate.resolvedBy ?? ""} |`,
      );
  }
  lines.push("", `<!-- devflow-run:${run.id} -->`);
  return cut(lines.join("\n"), COMMENT_LIMIT, "in the issue's devflow comment");
}
