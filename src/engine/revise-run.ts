import { and, desc, eq, notInArray } from "drizzle-orm";
import {
  type AttemptFeedback,
  approvalDecisions,
  approvalRequests,
  runEvents,
  runPhases,
  runReports,
  runs,
  TERMINAL_RUN_STATES,
} from "../db/schema/index.ts";
import { DevflowError } from "../errors.ts";
import { listFailedJobs } from "./failed-jobs.ts";
import { startAttempt } from "./phase-transitions.ts";
import { branchFinishing, revisionCount, runEndings } from "./run-endings.ts";
import { withRun } from "./run-transition.ts";
import type { EngineDeps } from "./types.ts";

export interface ReviseRunInput {
  runId: string;
  /** Makes the revision idempotent: `review:<id>` or `comment:<id>`. */
  key: string;
  actor: string | null;
  /** What the person asked for, and their inline comments (file, line, text). */
  body: string;
  comments?: AttemptFeedback["comments"];
  source: "review" | "command";
}

/**
 * Revises a completed run: its final phase (the implementation) runs again as its
 * next attempt, on the same branch, with what the person asked (a review's body
 * and inline comments, or a `/devflow revise` comment) as feedback. The run is
 * active again until it completes again (its gates, budget and report as for any
 * attempt; the report gains the revision). A revision is a person's decision: it
 * goes on at once, like a gate's (docs/engine.md, caps). The same key twice is one
 * revision.
 */
export async function reviseRun(
  deps: EngineDeps,
  input: ReviseRunInput,
): Promise<{ replayed: boolean; revision: number }> {
  return withRun(deps, input.runId, async (t) => {
    const [earlier] = await t.tx
      .select({ payload: runEvents.payload })
      .from(runEvents)
      .where(eq(runEvents.idempotencyKey, `${t.run.id}:run.revised:${input.key}`));
    if (earlier !== undefined)
      return {
        replayed: true,
        revision: Number((earlier.payload as { revision?: number }).revision),
      };
    // The same review or comment decided a gate of this run before it completed (its
    // job retried since): it asked for that, not for a revision.
    const [decided] = await t.tx
      .select({ id: approvalDecisions.id })
      .from(approvalDecisions)
      .innerJoin(approvalRequests, eq(approvalRequests.id, approvalDecisions.approvalRequestId))
      .where(
        and(eq(approvalRequests.runId, t.run.id), eq(approvalDecisions.clientToken, input.key)),
      )
      .limit(1);
    if (decided !== undefined) return { replayed: true, revision: await revisionCount(t) };
    if (t.run.state !== "completed") {
      throw new DevflowError(
        `run ${t.run.id} is ${t.run.state.replaceAll("_", " ")}: only a completed run can be revised`,
        {
          class: "human",
          code: "run_not_completed",
          recoveryHint:
            t.run.state === "awaiting_approval"
              ? "request changes at its gate instead"
              : "wait until the run completes",
        },
      );
    }
    // The branch is still being finished (its report committed, its directory taken
    // out): a revision then would race that job on the branch.
    const stuck = await listFailedJobs(
      { db: t.tx as unknown as EngineDeps["db"] },
      { runId: t.run.id },
    );
    if (branchFinishing(t.run, await runEndings(t.tx, t.run.id), stuck)) {
      throw new DevflowError(
        `run ${t.run.id} has just completed and its branch is being finished: ask again in a moment`,
        { class: "human", code: "branch_finishing" },
      );
    }
    const [phase] = await t.tx
      .select()
      .from(runPhases)
      .where(eq(runPhases.runId, t.run.id))
      .orderBy(desc(runPhases.seq))
      .limit(1);
    if (phase === undefined) throw new Error(`run ${t.run.id} has no phases`);
    // One active run per issue: a newer run for the issue must end before this one revives.
    const [other] = await t.tx
      .select({ id: runs.id })
      .from(runs)
      .where(
        and(
          eq(runs.repository, t.run.repository),
          eq(runs.issueNumber, t.run.issueNumber),
          notInArray(runs.state, [...TERMINAL_RUN_STATES]),
        ),
      )
      .limit(1);
    if (other !== undefined) {
      throw new DevflowError(
        `issue #${t.run.issueNumber} has an active run (${other.id}); it must end before run ${t.run.id} can be revised`,
        { class: "human", code: "active_run_exists" },
      );
    }
    const revision = (await revisionCount(t)) + 1;
    await t.emit(
      "run.revised",
      {
        revision,
        phaseKey: phase.phaseKey,
        attempt: phase.attempts + 1,
        actor: input.actor,
        source: input.source,
        asked: input.body.slice(0, 4000),
        comments: (input.comments ?? []).length,
      },
      input.key,
    );
    // The report is written again when the run ends again, with this revision in it.
    await t.tx.delete(runReports).where(eq(runReports.runId, t.run.id));
    await t.updateRun({ endedAt: null, failure: null });
    await startAttempt(t, phase, {
      source: "revision",
      actor: input.actor,
      body: input.body,
      comments: input.comments ?? [],
    });
    return { replayed: false, revision };
  });
}
