import { asc, desc, eq } from "drizzle-orm";
import { approvalRequests, runEvents, runPhases, runReports, runs } from "../db/schema/index.ts";
import { DevflowError } from "../errors.ts";
import type { ApprovalRow, EngineDeps, EventRow, PhaseRow, ReportRow, RunRow } from "./types.ts";

export interface RunStatus {
  run: RunRow;
  phases: PhaseRow[];
  approvals: ApprovalRow[];
  report: ReportRow | null;
  /** The latest events, oldest first. */
  eventsTail: EventRow[];
}

/** Everything a status comment, the CLI or a test needs to know about one run. */
export async function getRunStatus(deps: EngineDeps, runId: string): Promise<RunStatus> {
  const [run] = await deps.db.select().from(runs).where(eq(runs.id, runId));
  if (run === undefined) {
    throw new DevflowError(`run ${runId} does not exist`, {
      class: "human",
      code: "run_not_found",
    });
  }
  const [phases, approvals, reports, events] = await Promise.all([
    deps.db.select().from(runPhases).where(eq(runPhases.runId, runId)).orderBy(asc(runPhases.seq)),
    deps.db
      .select()
      .from(approvalRequests)
      .where(eq(approvalRequests.runId, runId))
      .orderBy(asc(approvalRequests.createdAt), asc(approvalRequests.id)),
    deps.db.select().from(runReports).where(eq(runReports.runId, runId)),
    deps.db
      .select()
      .from(runEvents)
      .where(eq(runEvents.runId, runId))
      .orderBy(desc(runEvents.seq))
      .limit(50),
  ]);
  return { run, phases, approvals, report: reports[0] ?? null, eventsTail: events.reverse() };
}
