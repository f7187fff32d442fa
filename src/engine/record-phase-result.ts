import { eq, sql } from "drizzle-orm";
import {
  artifacts,
  type EgressDenialRecord,
  type FailureRecord,
  phaseAttempts,
  runPhases,
} from "../db/schema/index.ts";
import { assertInput, type ErrorClass } from "../errors.ts";
import { runDirectory } from "../report/final-report.ts";
import { advanceLocked } from "./advance-locked.ts";
import { storable } from "./execution-records.ts";
import {
  awaitApproval,
  completePhase,
  failPhase,
  raiseHumanGate,
  startAttempt,
} from "./phase-transitions.ts";
import { runHeadSha } from "./run-head.ts";
import { withRun } from "./run-transition.ts";
import { terminateRun } from "./terminate-run.ts";
import type { EngineDeps } from "./types.ts";

export interface ProducedArtifact {
  revision: number;
  content: unknown;
  valid: boolean;
  errors: string[];
}

export type PhaseOutcome =
  | { kind: "succeeded" }
  /** Still invalid after the repair attempt. */
  | { kind: "invalid_artifact" }
  | { kind: "failed"; errorClass: ErrorClass; failure: FailureRecord };

export interface PhaseResultInput {
  runId: string;
  phaseId: string;
  attemptId: string;
  attempt: number;
  outcome: PhaseOutcome;
  artifacts: ProducedArtifact[];
  costUsd?: number;
  tokens?: { input?: number; output?: number };
  /** The run-branch commit with what the attempt produced. */
  commitSha?: string;
  /** Connections the sandbox refused during the attempt. */
  egressDenied?: EgressDenialRecord[];
}

/**
 * Takes the result of one attempt. Only the attempt that is still `running` is
 * heard: a replayed, late or superseded result is ignored (`accepted: false`).
 * A valid artifact opens the phase's gate or completes it; an artifact still
 * invalid after repair pauses the run at a human-required gate; a fatal failure
 * fails the run; a recoverable one retries until the phase's attempts run out.
 */
export async function recordPhaseResult(
  deps: EngineDeps,
  input: PhaseResultInput,
): Promise<{ accepted: boolean }> {
  assertInput(
    input.costUsd === undefined || (Number.isFinite(input.costUsd) && input.costUsd >= 0),
    `an attempt's cost must be a number of dollars, 0 or more; got ${input.costUsd}`,
  );
  return withRun(deps, input.runId, async (t) => {
    const [attempt] = await t.tx
      .select()
      .from(phaseAttempts)
      .where(eq(phaseAttempts.id, input.attemptId));
    if (attempt === undefined || attempt.state !== "running" || attempt.phaseId !== input.phaseId) {
      return { accepted: false };
    }
    const [phase] = await t.tx.select().from(runPhases).where(eq(runPhases.id, input.phaseId));
    if (phase === undefined) return { accepted: false };
    const path = `${runDirectory(t.run.id)}/${phase.phaseKey}.json`;
    for (const artifact of input.artifacts) {
      await t.tx
        .insert(artifacts)
        .values({
          runId: t.run.id,
          phaseId: phase.id,
          attempt: attempt.attempt,
          revision: artifact.revision,
          schemaId: phase.artifactSchema ?? "none",
          path,
          content: artifact.content ?? null,
          valid: artifact.valid,
          errors: artifact.errors,
        })
        .onConflictDoNothing();
    }
    const failed = input.outcome.kind !== "succeeded";
    const raw: FailureRecord | null =
      input.outcome.kind === "failed"
        ? input.outcome.failure
        : input.outcome.kind === "invalid_artifact"
          ? {
              category: "invalid_artifact",
              code: "artifact_invalid_after_repair",
              message: `the ${phase.artifactSchema} artifact was still invalid after one repair: ${input.artifacts.at(-1)?.errors.slice(0, 5).join("; ")}`,
            }
          : null;
    // A message can quote an agent's output; keep it storable and short.
    const failure: FailureRecord | null =
      raw === null ? null : { ...raw, message: storable(raw.message, 4000) };
    await t.tx
      .update(phaseAttempts)
      .set({
        state: failed ? "failed" : "succeeded",
        failure,
        endedAt: sql`now()`,
        costUsd: input.costUsd ?? null,
        tokens: input.tokens ?? null,
        commitSha: input.commitSha ?? null,
        egressDenied: input.egressDenied ?? null,
      })
      .where(eq(phaseAttempts.id, attempt.id));
    // What the sandbox refused is shown with the phase until its next attempt says otherwise.
    if ((input.egressDenied ?? []).length > 0 || phase.egressDenied !== null) {
      await t.tx
        .update(runPhases)
        .set({ egressDenied: input.egressDenied ?? null })
        .where(eq(runPhases.id, phase.id));
    }

    if (input.outcome.kind === "succeeded") {
      await t.emit(
        "artifact.recorded",
        {
          phaseKey: phase.phaseKey,
          attempt: attempt.attempt,
          path,
          schemaId: phase.artifactSchema,
        },
        `${attempt.id}`,
      );
      if (phase.gateKey !== null) {
        const commit = input.commitSha ?? (await runHeadSha(t.tx, t.run.id));
        await awaitApproval(t, { ...phase, gateKey: phase.gateKey }, attempt.attempt, commit);
        return { accepted: true };
      }
      await completePhase(t, phase, attempt.attempt);
      await advanceLocked(t);
      return { accepted: true };
    }
    if (failure === null) return { accepted: true };
    if (input.outcome.kind === "invalid_artifact") {
      await raiseHumanGate(t, phase, "artifact_invalid_after_repair", failure);
      return { accepted: true };
    }
    // Stopped for spending the run's budget: a person decides whether to grant more.
    if (failure.code === "budget_exhausted") {
      await raiseHumanGate(t, phase, "budget_exhausted", failure);
      return { accepted: true };
    }
    if (input.outcome.errorClass === "fatal") {
      await failPhase(t, phase, attempt.attempt, failure);
      await terminateRun(t, "failed", failure);
      return { accepted: true };
    }
    if (phase.attempts < phase.maxAttempts) {
      await t.emit(
        "phase.retrying",
        { phaseKey: phase.phaseKey, attempt: attempt.attempt, ...failure },
        `${phase.id}:${attempt.attempt}`,
      );
      await startAttempt(t, phase, attempt.feedback);
      return { accepted: true };
    }
    await raiseHumanGate(t, phase, "attempts_exhausted", {
      ...failure,
      message: `all ${phase.maxAttempts} attempts failed; the last: ${failure.message}`,
    });
    return { accepted: true };
  });
}
