import { untrusted } from "../security/untrusted-text.ts";
import type { FinalReport } from "./final-report.ts";
import { renderFailureMarkdown } from "./render-failure-markdown.ts";

const STATUS_LINE: Record<FinalReport["status"], string> = {
  completed: "✅ completed",
  failed: "❌ failed",
  aborted: "⏹️ aborted",
};

function cell(value: string | number | null): string {
  return value === null ? "—" : untrusted.cell(String(value));
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
    lines.push(`**Failure:** ${renderFailureMarkdown(report.failure)}`, "");
  }
  lines.push(...renderWork(report));
  for (const revision of report.revisions ?? []) {
    lines.push(
      `## Revision ${revision.revision}${revision.actor === null ? "" : `, asked by @${revision.actor}`}`,
      "",
      `Asked ${revision.at}:`,
      "",
      untrusted.block(revision.asked),
      "",
      `What changed (attempt ${revision.attempt}, ${seconds(revision.workingMs)}, ${dollars(revision.costUsd)}):${revision.summary === null ? " no valid implementation artifact." : untrusted.trailing(revision.summary)}`,
      "",
    );
  }
  lines.push(
    "## Phases",
    "",
    "| phase | state | attempts | agents working | waiting for people | cost |",
    "|---|---|---|---|---|---|",
  );
  for (const phase of report.phases) {
    lines.push(
      `| ${cell(phase.key)} | ${phase.state} | ${phase.attempts} | ${seconds(phase.workingMs ?? phase.durationMs)} | ${seconds(phase.waitingMs ?? null)} | ${dollars(phase.costUsd)} |`,
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

const RESULT: Record<string, string> = {
  passed: "✅ passed",
  failed: "❌ failed",
  skipped: "⏭️ skipped",
  error: "⚠️ error",
};

/**
 * What a reviewer reads first: what the implementation built (its summary, the
 * files, the tests it ran and their results, follow-ups) and what the spec left
 * open. Empty when the run got to neither.
 */
export function renderWork(
  report: Pick<FinalReport, "work" | "openQuestions" | "risks">,
): string[] {
  const lines: string[] = [];
  const { work } = report;
  if (work !== undefined) {
    lines.push("## What was built", "", untrusted.block(work.summary), "");
    if (work.filesChanged.length > 0) {
      lines.push("| file | change | what |", "|---|---|---|");
      for (const file of work.filesChanged)
        lines.push(
          `| ${untrusted.cell(file.path, "code")} | ${cell(file.change)} | ${cell(file.description ?? null)} |`,
        );
      lines.push("");
    }
    lines.push("### Tests", "");
    if (work.testsRun.length === 0) lines.push("The implementation ran no tests.");
    for (const test of work.testsRun) {
      const details =
        test.details === undefined
          ? ""
          : ` — ${untrusted.inline(test.details.split("\n")[0] ?? "")}`;
      lines.push(
        `- ${RESULT[test.result] ?? untrusted.inline(test.result)}: ${untrusted.code(test.command)}${details}`,
      );
    }
    lines.push("");
    if (work.followUps.length > 0) {
      lines.push("### Follow-ups", "");
      for (const item of work.followUps) lines.push(`- ${untrusted.inline(item)}`);
      lines.push("");
    }
  }
  const open = [
    ...(report.openQuestions ?? []).map((question) => `- ❓ ${untrusted.inline(question)}`),
    ...(report.risks ?? []).map((risk) => `- ⚠️ ${untrusted.inline(risk)}`),
  ];
  if (open.length > 0) lines.push("## Open questions and risks (from the spec)", "", ...open, "");
  return lines;
}
