import type { FinalReport } from "./final-report.ts";

const STATUS_LINE: Record<FinalReport["status"], string> = {
  completed: "✅ completed",
  failed: "❌ failed",
  aborted: "⏹️ aborted",
};

function cell(value: string | number | null): string {
  if (value === null) return "—";
  return String(value).replaceAll("|", "\\|").replaceAll("\n", " ");
}

function seconds(ms: number | null): string {
  return ms === null ? "—" : `${(ms / 1000).toFixed(1)} s`;
}

function dollars(usd: number | null): string {
  return usd === null ? "—" : `$${usd.toFixed(2)}`;
}

/** Renders the final report for humans; the JSON next to it is the contract. */
export function renderReportMarkdown(report: FinalReport): string {
  const lines = [
    `# devflow run report: ${STATUS_LINE[report.status]}`,
    "",
    `Run \`${report.runId}\` of \`${report.template}\` for ${report.repository}#${report.issue}.`,
    `Started ${report.startedAt}, ended ${report.endedAt} (${seconds(report.totals.durationMs)}).`,
    "",
  ];
  if (report.failure !== undefined) {
    lines.push(
      `**Failure** (${report.failure.category}, \`${report.failure.code}\`): ${report.failure.message}`,
      "",
    );
  }
  lines.push(
    "## Phases",
    "",
    "| phase | state | attempts | time | cost |",
    "|---|---|---|---|---|",
  );
  for (const phase of report.phases) {
    lines.push(
      `| ${cell(phase.key)} | ${phase.state} | ${phase.attempts} | ${seconds(phase.durationMs)} | ${dollars(phase.costUsd)} |`,
    );
  }
  lines.push("", "## Gates", "");
  if (report.approvals.length === 0) lines.push("No gate was reached.");
  else {
    lines.push("| gate | state | by | at |", "|---|---|---|---|");
    for (const approval of report.approvals) {
      lines.push(
        `| ${cell(approval.gateKey)} | ${approval.state} | ${cell(approval.actor)} | ${cell(approval.at)} |`,
      );
    }
  }
  lines.push("", "## Artifacts", "");
  if (report.artifacts.length === 0) lines.push("No artifact was produced.");
  for (const artifact of report.artifacts) {
    lines.push(
      `- \`${artifact.path}\` (${artifact.schemaId}, ${artifact.phaseKey}): ${artifact.valid ? "valid" : "invalid"}`,
    );
  }
  lines.push("", "## Unresolved", "");
  if (report.unresolved.length === 0) lines.push("Nothing.");
  for (const item of report.unresolved) lines.push(`- ${item}`);
  lines.push(
    "",
    `Totals: ${report.totals.attempts} attempts, ${seconds(report.totals.durationMs)}, ${dollars(report.totals.costUsd)}.`,
    "",
  );
  return lines.join("\n");
}
