import { eq } from "drizzle-orm";
import { runReports } from "../db/schema/index.ts";
import { DevflowError } from "../errors.ts";
import { buildFinalReport, reportPath } from "../report/build-final-report.ts";
import { renderReportMarkdown } from "../report/render-report-markdown.ts";
import { QUEUES } from "./outbox.ts";
import { endingKey, revisionCount } from "./run-endings.ts";
import type { Transition } from "./run-transition.ts";

/**
 * Writes the final report of a terminal run unless it is there already. Every
 * terminal transition calls it, and so does every replay, which is how a missing
 * report is repaired.
 */
export async function ensureReport(t: Transition): Promise<void> {
  const [existing] = await t.tx
    .select({ runId: runReports.runId })
    .from(runReports)
    .where(eq(runReports.runId, t.run.id));
  if (existing !== undefined) return;
  const report = await buildFinalReport(t.tx, t.run);
  const valid = t.deps.registry.validate("common/final-report@1", report);
  if (!valid.ok) {
    throw new DevflowError(
      `final report of run ${t.run.id} is invalid: ${valid.errors.join("; ")}`,
      {
        class: "fatal",
        code: "internal_state_corruption",
      },
    );
  }
  const path = reportPath(t.run.id);
  await t.tx.insert(runReports).values({
    runId: t.run.id,
    status: t.run.state,
    path,
    json: report,
    markdown: renderReportMarkdown(report),
  });
  await t.emit(
    "report.written",
    { status: t.run.state, path },
    endingKey("report", await revisionCount(t)),
  );
  // A run with a branch on a remote gets its report committed there (and, once it
  // completed, its directory taken out of the tree); an aborted run's branch is left
  // as it was.
  if (t.run.cloneUrl !== null && t.run.state !== "aborted")
    await t.enqueue(QUEUES.finishBranch, { runId: t.run.id }, { singletonKey: t.run.id });
}
