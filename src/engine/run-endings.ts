import { and, asc, count, eq, inArray } from "drizzle-orm";
import type { Tx } from "../db/client.ts";
import type { RunRow } from "../db/rows.ts";
import { isTerminal, runEvents } from "../db/schema/index.ts";
import type { FailedJob } from "./failed-jobs.ts";
import { QUEUES } from "./outbox.ts";

/**
 * How a run ends, and ends again: a completed run can be revised (`run.revised`),
 * and each ending has its own `run.completed`, `report.written` and, for a run with
 * a branch on a remote, `branch.finished` (its report committed, its directory
 * taken out of the tree).
 */

/** What a run's branch holds once it ended: the report's commit, and the branch head after it. */
export interface FinishedBranch {
  /** The commit that holds the report and every artifact of the run. */
  reportCommit: string | null;
  /** The branch head once its files were committed (and taken out of the tree). */
  headCommit: string | null;
  /** Whether the run's directory was taken out of the tree by the head commit. */
  tidied: boolean;
}

export interface RunEndings {
  /** How many times people revised the run after it completed. */
  revisions: number;
  /** The branch as its latest ending left it; null before that ending finished it. */
  finishedBranch: FinishedBranch | null;
  /** Whether the run was started to keep its directory in the tree (`artifacts.keepInTree`). */
  keepArtifactsInTree: boolean;
}

/** How many times the run was revised: 0 until a person asks for a revision. */
export async function revisionCount(t: { tx: Tx; run: Pick<RunRow, "id"> }): Promise<number> {
  const [row] = await t.tx
    .select({ n: count() })
    .from(runEvents)
    .where(and(eq(runEvents.runId, t.run.id), eq(runEvents.type, "run.revised")));
  return row?.n ?? 0;
}

/**
 * The idempotency key of a once-per-ending event (`run.completed`, `report.written`,
 * `branch.finished`): a revised run ends again, and each ending has its own.
 */
export function endingKey(base: string, revisions: number): string {
  return revisions === 0 ? base : `${base}:${revisions}`;
}

/** The run's endings so far, from its events (one query). */
export async function runEndings(tx: Tx, runId: string): Promise<RunEndings> {
  const events = await tx
    .select({ type: runEvents.type, payload: runEvents.payload })
    .from(runEvents)
    .where(
      and(
        eq(runEvents.runId, runId),
        inArray(runEvents.type, ["run.created", "branch.finished", "run.revised"]),
      ),
    )
    .orderBy(asc(runEvents.seq));
  const last = events.at(-1);
  return {
    revisions: events.filter((event) => event.type === "run.revised").length,
    // Finished for the latest ending: after the latest revision.
    finishedBranch:
      last?.type === "branch.finished" ? (last.payload as unknown as FinishedBranch) : null,
    keepArtifactsInTree: events.some(
      (event) =>
        event.type === "run.created" &&
        (event.payload as { keepArtifactsInTree?: boolean }).keepArtifactsInTree === true,
    ),
  };
}

/**
 * Whether a terminal run's branch is still being finished: a run with a remote that
 * completed or failed, whose latest ending has no `branch.finished` yet — unless the
 * job that finishes it failed every retry (`stuck`): then the run is over without it.
 */
export function branchFinishing(
  run: Pick<RunRow, "state" | "cloneUrl">,
  endings: RunEndings,
  stuck: FailedJob[],
): boolean {
  return (
    isTerminal(run.state) &&
    run.state !== "aborted" &&
    run.cloneUrl !== null &&
    endings.finishedBranch === null &&
    !stuck.some((job) => job.queue === QUEUES.finishBranch)
  );
}
