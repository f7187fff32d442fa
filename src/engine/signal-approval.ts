import { and, eq, lte, sql } from "drizzle-orm";
import {
  type ApprovalAction,
  type AttemptFeedback,
  approvalDecisions,
  approvalRequests,
  isTerminal,
  phaseAttempts,
  runPhases,
} from "../db/schema/index.ts";
import { assertInput, DevflowError } from "../errors.ts";
import { humanGateAllows } from "../registry/human-gates.ts";
import { advanceLocked } from "./advance-locked.ts";
import { expandPlan } from "./expand-plan.ts";
import { completePhase, reopenPhase, startAttempt } from "./phase-transitions.ts";
import { type Transition, withRun } from "./run-transition.ts";
import { replaySideEffects, terminateRun } from "./terminate-run.ts";
import type { EngineDeps } from "./types.ts";

export interface SignalApprovalInput {
  runId: string;
  approvalId: string;
  action: ApprovalAction;
  /** Idempotency: the review id, the check-run click's id, the comment id. */
  clientToken: string;
  actor?: string;
  body?: string;
  comments?: AttemptFeedback["comments"];
  /**
   * What the person decided on, so a decision applies only to the gate they saw: a
   * review's commit (the gate's own or a later one), a comment's creation time (after
   * the gate opened). A button names its gate itself and needs neither.
   */
  seen?: { commitSha?: string; at?: Date };
}

export interface SignalApprovalResult {
  /** True when this exact decision (same approval, action and token) was already applied. */
  replayed: boolean;
}

/** A decision meant for another gate than the one open now: it changes nothing. */
function stale(message: string): DevflowError {
  return new DevflowError(message, { class: "human", code: "approval_stale" });
}

/**
 * Why a decision does not belong to `request`, or null when it does: its token
 * already decided another gate of the run, it was written before the gate opened,
 * or it reviewed a commit devflow made before the gate's.
 */
async function whyStale(
  t: Transition,
  request: typeof approvalRequests.$inferSelect,
  input: SignalApprovalInput,
): Promise<string | null> {
  const [elsewhere] = await t.tx
    .select({ id: approvalRequests.id, gateKey: approvalRequests.gateKey })
    .from(approvalDecisions)
    .innerJoin(approvalRequests, eq(approvalRequests.id, approvalDecisions.approvalRequestId))
    .where(
      and(
        eq(approvalRequests.runId, request.runId),
        eq(approvalDecisions.clientToken, input.clientToken),
      ),
    )
    .limit(1);
  if (elsewhere !== undefined && elsewhere.id !== request.id) {
    return `it already decided gate \`${elsewhere.gateKey}\`; the open gate is \`${request.gateKey}\``;
  }
  const opened = Math.floor(request.createdAt.getTime() / 1000) * 1000;
  if (input.seen?.at !== undefined && input.seen.at.getTime() < opened) {
    return `it was written before gate \`${request.gateKey}\` opened (${request.createdAt.toISOString()}); decide the open gate anew`;
  }
  const seen = input.seen?.commitSha;
  if (seen !== undefined && request.commitSha !== null && seen !== request.commitSha) {
    const [older] = await t.tx
      .select({ sha: phaseAttempts.commitSha })
      .from(phaseAttempts)
      .where(
        and(
          eq(phaseAttempts.runId, request.runId),
          eq(phaseAttempts.commitSha, seen),
          lte(phaseAttempts.endedAt, request.createdAt),
        ),
      )
      .limit(1);
    if (older !== undefined) {
      return `it reviewed commit ${seen.slice(0, 7)}, older than ${request.commitSha.slice(0, 7)} that gate \`${request.gateKey}\` waits on; review the current changes`;
    }
  }
  return null;
}

function conflict(message: string, hint?: string): DevflowError {
  return new DevflowError(message, {
    class: "human",
    code: "approval_conflict",
    ...(hint === undefined ? {} : { recoveryHint: hint }),
  });
}

const RESOLVED_STATE = {
  approve: "approved",
  request_changes: "changes_requested",
  reject: "rejected",
} as const;

/**
 * Applies a person's decision at a gate. Idempotent by
 * `<approvalId>:<action>:<clientToken>`: the same decision again is a replay that
 * re-runs its side effects harmlessly (report repair, runner cleanup); the same
 * token with another action, a second decision, or any decision on a paused or
 * terminal run is an `approval_conflict` and changes nothing.
 */
export async function signalApproval(
  deps: EngineDeps,
  input: SignalApprovalInput,
): Promise<SignalApprovalResult> {
  assertInput(input.clientToken.length > 0, "clientToken must not be empty");
  assertInput(input.action in RESOLVED_STATE, `unknown approval action ${input.action}`);
  const key = `${input.approvalId}:${input.action}:${input.clientToken}`;
  return withRun(deps, input.runId, async (t) => {
    const [request] = await t.tx
      .select()
      .from(approvalRequests)
      .where(
        and(eq(approvalRequests.id, input.approvalId), eq(approvalRequests.runId, input.runId)),
      );
    if (request === undefined) {
      throw new DevflowError(`run ${input.runId} has no approval request ${input.approvalId}`, {
        class: "human",
        code: "approval_not_found",
      });
    }
    const [decision] = await t.tx
      .select()
      .from(approvalDecisions)
      .where(eq(approvalDecisions.approvalRequestId, request.id));
    if (decision !== undefined) {
      if (decision.idempotencyKey !== key) {
        throw conflict(
          `gate ${request.gateKey} was already decided (${decision.action})`,
          JSON.stringify({ state: request.state, decidedBy: decision.actor }),
        );
      }
      await replaySideEffects(t);
      return { replayed: true };
    }
    const why = await whyStale(t, request, input);
    if (why !== null) throw stale(why);
    if (request.state !== "pending") {
      throw conflict(`gate ${request.gateKey} is ${request.state}, not pending`);
    }
    if (isTerminal(t.run.state)) {
      throw conflict(`run ${t.run.id} is ${t.run.state}`);
    }
    if (request.kind === "human_required") {
      if (!humanGateAllows(request.gateKey, input.action)) {
        throw conflict(
          `gate ${request.gateKey} can only be resolved by a person rejecting the run`,
        );
      }
    } else if (t.run.state === "paused") {
      throw conflict(`run ${t.run.id} is paused; resume it first`, "/devflow resume");
    }

    const inserted = await t.tx
      .insert(approvalDecisions)
      .values({
        approvalRequestId: request.id,
        action: input.action,
        clientToken: input.clientToken,
        idempotencyKey: key,
        actor: input.actor ?? null,
        body: input.body ?? null,
      })
      .onConflictDoNothing()
      .returning({ id: approvalDecisions.id });
    if (inserted.length === 0) throw conflict(`gate ${request.gateKey} was decided concurrently`);
    await t.tx
      .update(approvalRequests)
      .set({
        state: RESOLVED_STATE[input.action],
        resolvedAt: sql`now()`,
        resolvedBy: input.actor ?? null,
      })
      .where(eq(approvalRequests.id, request.id));
    await t.emit(
      "approval.resolved",
      {
        approvalId: request.id,
        gateKey: request.gateKey,
        action: input.action,
        actor: input.actor ?? null,
      },
      request.id,
    );
    const [phase] = await t.tx.select().from(runPhases).where(eq(runPhases.id, request.phaseId));
    if (phase === undefined) throw new Error(`approval ${request.id} has no phase`);

    if (input.action === "reject") {
      const failure = phase.failure ?? {
        category: "human",
        code: "rejected",
        message: `${input.actor ?? "a reviewer"} rejected ${request.gateKey}${input.body ? `: ${input.body}` : ""}`,
      };
      await terminateRun(t, "failed", failure);
      return { replayed: false };
    }
    if (input.action === "request_changes") {
      if (t.run.state === "paused")
        await t.updateRun({ state: phase.runState, pausedFromState: null });
      await t.emit(
        "phase.changes_requested",
        { phaseKey: phase.phaseKey, attempt: phase.attempts },
        `${request.id}`,
      );
      await startAttempt(t, phase, {
        source: request.kind === "gate" ? "review" : "retry",
        actor: input.actor ?? null,
        body: input.body ?? "",
        comments: input.comments ?? [],
      });
      return { replayed: false };
    }
    if (request.kind === "human_required") {
      // Approving a human-required gate is only allowed at budget_exhausted: it grants
      // one more budget, and the phase that was held runs.
      await reopenPhase(t, phase);
      await t.updateRun({
        state: phase.runState,
        pausedFromState: null,
        budgetGrants: t.run.budgetGrants + 1,
      });
      await t.emit(
        "budget.granted",
        { actor: input.actor ?? null, budgetUsd: t.run.budgetUsd, grants: t.run.budgetGrants },
        request.id,
      );
      await advanceLocked(t);
      return { replayed: false };
    }
    await completePhase(t, phase, phase.attempts);
    if (phase.expandsPlan) {
      const problems = await expandPlan(t, phase);
      if (problems.length > 0) {
        const message = `the approved plan cannot run: ${problems.join("; ")}`;
        await terminateRun(t, "failed", {
          category: "internal",
          code: "internal_state_corruption",
          message,
        });
        t.failAfterCommit(
          new DevflowError(message, {
            class: "fatal",
            code: "internal_state_corruption",
            recoveryHint: "fix the plan's roles, keys or schemas and start a new run",
          }),
        );
        return { replayed: false };
      }
    }
    await advanceLocked(t);
    return { replayed: false };
  });
}
