import { and, asc, desc, eq, sql } from "drizzle-orm";
import type { ApprovalRow, EventRow, PhaseRow, ReportRow, RunRow } from "../db/rows.ts";
import {
  approvalRequests,
  artifacts,
  phaseAttempts,
  runEvents,
  runPhases,
  runReports,
  runs,
} from "../db/schema/index.ts";
import { DevflowError } from "../errors.ts";
import { type QueuePlace, queuePlace } from "./admission.ts";
import { type FailedJob, listFailedJobs } from "./failed-jobs.ts";
import { branchFinishing, type FinishedBranch, runEndings } from "./run-endings.ts";
import { runHeadSha } from "./run-head.ts";
import type { EngineDeps } from "./types.ts";

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
  /**
   * A terminal run's branch once its report is committed (`branch.finished`); null
   * before, and for runs whose branch devflow does not finish (aborted, no remote).
   */
  finishedBranch: FinishedBranch | null;
  /** A run whose branch is still being finished: the publisher holds its last words till then. */
  branchFinishing: boolean;
  /** How many times people revised the run after it completed. */
  revisions: number;
  /** Whether the run keeps its directory in the tree when it completes (`artifacts.keepInTree`). */
  keepArtifactsInTree: boolean;
  /** Running phases as their agents work: by phase id (docs/github.md, "a phase you can watch"). */
  progress: Map<string, PhaseProgress>;
  /** A queued run's place in the queue and the cap that holds it; null for any other run. */
  queue: QueuePlace | null;
  /** Each phase's latest artifact (its latest valid one when it has one), by phase id. */
  artifacts: Map<string, PhaseArtifact>;
}

export interface PhaseProgress {
  attempt: number;
  startedAt: Date;
  /** What its agent has spent so far, where the agent reports it as it goes. */
  costUsd: number | null;
  /** The end of the running agent's transcript (stored as it grows), for what it does now. */
  transcriptTail: string;
}

export interface PhaseArtifact {
  schemaId: string;
  path: string;
  valid: boolean;
  content: unknown;
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
      // Each phase's latest artifact: its latest valid one when it has one.
      const artifactRows = await tx
        .selectDistinctOn([artifacts.phaseId], {
          phaseId: artifacts.phaseId,
          schemaId: artifacts.schemaId,
          path: artifacts.path,
          valid: artifacts.valid,
          content: artifacts.content,
        })
        .from(artifacts)
        .where(eq(artifacts.runId, runId))
        .orderBy(
          artifacts.phaseId,
          desc(artifacts.valid),
          desc(artifacts.createdAt),
          desc(artifacts.revision),
        );
      const endings = await runEndings(tx, runId);
      const stuck = await listFailedJobs({ db: tx as unknown as EngineDeps["db"] }, { runId });
      const running = await tx
        .select({
          phaseId: phaseAttempts.phaseId,
          attempt: phaseAttempts.attempt,
          startedAt: phaseAttempts.startedAt,
          costUsd: phaseAttempts.costUsd,
          // Spelled out: drizzle leaves column names unqualified here, which would bind
          // the outer attempt's id to the execution's own.
          tail: sql<
            string | null
          >`(select right(e.transcript, 8192) from runner_executions e where e.attempt_id = "phase_attempts"."id" order by e.revision desc limit 1)`,
        })
        .from(phaseAttempts)
        .where(and(eq(phaseAttempts.runId, runId), eq(phaseAttempts.state, "running")));
      const progress = new Map<string, PhaseProgress>(
        running.map(({ phaseId, tail, ...attempt }) => [
          phaseId,
          { ...attempt, transcriptTail: tail ?? "" },
        ]),
      );
      return {
        run,
        phases,
        approvals,
        report: reports[0] ?? null,
        eventsTail: events.reverse(),
        stuck,
        headSha: endings.finishedBranch?.headCommit ?? headSha,
        finishedBranch: endings.finishedBranch,
        branchFinishing: branchFinishing(run, endings, stuck),
        keepArtifactsInTree: endings.keepArtifactsInTree,
        artifacts: new Map(artifactRows.map(({ phaseId, ...artifact }) => [phaseId, artifact])),
        revisions: endings.revisions,
        progress,
        queue: run.state === "queued" ? await queuePlace(tx, deps, run) : null,
      };
    },
    { isolationLevel: "repeatable read", accessMode: "read only" },
  );
}
