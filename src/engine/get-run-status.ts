import { asc, desc, eq } from "drizzle-orm";
import { approvalRequests, runEvents, runPhases, runReports, runs } from "../db/schema/index.ts";
import { DevflowError } from "../errors.ts";
import { type FailedJob, listFailedJobs } from "./failed-jobs.ts";
import { runHeadSha } from "./run-head.ts";
import type { ApprovalRow, EngineDeps, EventRow, PhaseRow, ReportRow, RunRow } from "./types.ts";

export interface RunStatus {
  run: RunRow;
  phases: PhaseRow[];
  approvals: ApprovalRow[];
  report: ReportRow | null;
  /** The latest events, oldest first. */
  eventsTail: EventRow[];
  /** Its jobs that failed every retry: the run is stuck until an operator retries them. */
  stuck: FailedJob[];
  /** The run branch's head: the commit of the attempt that committed last, if any did. */
  headSha: string | null;
}

/** Everything a status comment, the CLI or a test needs to know about one run. */
export async function getRunStatus(deps: EngineDeps, runId: string): Promise<RunStatus> {
  // One snapshot: a transition committing between two reads must not mix a run's old
  // state with its new gates.
  return deps.db.transaction(
    async (tx) => {
      const [run] = await tx.select().from(runs).where(eq(runs.id, runId));
      if (run === undefined) {
        throw new DevflowError(`run ${runId} does not exist`, {
          class: "human",
          code: "run_not_found",
        });
      }
      const phases = await tx
        .select()
        .from(runPhases)
        .where(eq(runPhases.runId, runId))
        .orderBy(asc(runPhases.seq));
      const approvals = await tx
        .select()
        .from(approvalRequests)
        .where(eq(approvalRequests.runId, runId))
        .orderBy(asc(approvalRequests.createdAt), asc(approvalRequests.id));
      const reports = await tx.select().from(runReports).where(eq(runReports.runId, runId));
      const events = await tx
        .select()
        .from(runEvents)
        .where(eq(runEvents.runId, runId))
        .orderBy(desc(runEvents.seq))
        .limit(50);
      const headSha = await runHeadSha(tx, runId);
      const stuck = await listFailedJobs({ db: tx as unknown as EngineDeps["db"] }, { runId });
      return {
        run,
        phases,
        approvals,
        report: reports[0] ?? null,
        eventsTail: events.reverse(),
        stuck,
        headSha,
      };
    },
    { isolationLevel: "repeatable read", accessMode: "read only" },
  );
}
