import { and, eq, inArray, sql } from "drizzle-orm";
import type { ExecutionRow } from "../db/rows.ts";
import {
  type ExecutionState,
  phaseAttempts,
  type RunnerHandle,
  runnerExecutions,
  runPhases,
} from "../db/schema/index.ts";
import { withRun } from "./run-transition.ts";
import type { EngineDeps } from "./types.ts";

/** How much of an execution's transcript is kept: its last MiB, where the failure usually is. */
export const TRANSCRIPT_LIMIT = 1024 * 1024;

/**
 * Text from an agent, made storable: PostgreSQL text and jsonb cannot hold NUL,
 * and an agent may print anything.
 */
export function storable(text: string, max = TRANSCRIPT_LIMIT): string {
  const clean = text.replaceAll("\u0000", "\uFFFD");
  return clean.length <= max ? clean : clean.slice(clean.length - max);
}

/** An exit record whose strings are storable and short. */
function storableExit(exit: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(exit).map(([key, value]) => [
      key,
      typeof value === "string" ? storable(value, 4000) : value,
    ]),
  );
}

/**
 * The columns that append captured chunks to an execution's transcript. Chunks at
 * or below the capture offset are there already, so appending twice changes nothing.
 */
function transcriptAppend(chunks: { seq: number; text: string }[]) {
  // A loop, not Math.max(...seqs): a spread of a flood's chunks overflows the stack.
  let last = 0;
  for (const chunk of chunks) if (chunk.seq > last) last = chunk.seq;
  const text = storable(chunks.map((chunk) => chunk.text).join(""));
  return {
    transcript: sql`case when ${runnerExecutions.lastCaptureSeq} < ${last} then right(${runnerExecutions.transcript} || ${text}, ${TRANSCRIPT_LIMIT}) else ${runnerExecutions.transcript} end`,
    lastCaptureSeq: sql`greatest(${runnerExecutions.lastCaptureSeq}, ${last})`,
  };
}

/**
 * The runner's bookkeeping: which executions exist, their handles, transcripts and
 * heartbeats. These are the only writes the runner layer makes, each through here.
 */

export interface RegisterExecutionInput {
  runId: string;
  attemptId: string;
  revision: number;
  backend: string;
  /** The worker process running it (src/log.ts WORKER_ID). */
  worker?: string;
  /** The prompt the agent gets, kept for people to read next to its transcript. */
  prompt?: string;
}

export type RegisterExecutionResult =
  | { status: "registered"; executionId: string }
  /** The attempt is no longer running (stopped, superseded, finished). */
  | { status: "stale" }
  /** This attempt already had this execution: the worker that ran it died. */
  | { status: "orphaned"; executionId: string };

export async function registerExecution(
  deps: EngineDeps,
  input: RegisterExecutionInput,
): Promise<RegisterExecutionResult> {
  return withRun(deps, input.runId, async (t) => {
    const [attempt] = await t.tx
      .select({
        state: phaseAttempts.state,
        phaseId: phaseAttempts.phaseId,
        attempt: phaseAttempts.attempt,
      })
      .from(phaseAttempts)
      .where(eq(phaseAttempts.id, input.attemptId));
    if (attempt === undefined || attempt.state !== "running") return { status: "stale" as const };
    const [existing] = await t.tx
      .select({ id: runnerExecutions.id })
      .from(runnerExecutions)
      .where(
        and(
          eq(runnerExecutions.attemptId, input.attemptId),
          eq(runnerExecutions.revision, input.revision),
        ),
      );
    if (existing !== undefined) return { status: "orphaned" as const, executionId: existing.id };
    const [phase] = await t.tx
      .select({ role: runPhases.role, key: runPhases.phaseKey })
      .from(runPhases)
      .where(eq(runPhases.id, attempt.phaseId));
    const [row] = await t.tx
      .insert(runnerExecutions)
      .values({
        runId: input.runId,
        phaseId: attempt.phaseId,
        attemptId: input.attemptId,
        revision: input.revision,
        role: phase?.role ?? "unknown",
        backend: input.backend,
        worker: input.worker ?? null,
        prompt: input.prompt === undefined ? null : storable(input.prompt),
      })
      .returning({ id: runnerExecutions.id });
    if (row === undefined) throw new Error("insert into runner_executions returned nothing");
    await t.emit(
      "execution.started",
      {
        executionId: row.id,
        phaseKey: phase?.key,
        attempt: attempt.attempt,
        revision: input.revision,
        backend: input.backend,
      },
      row.id,
    );
    return { status: "registered" as const, executionId: row.id };
  });
}

/** Persists the handle so a cleanup in another process, or after a restart, finds the execution. */
export async function recordExecutionHandle(
  deps: EngineDeps,
  executionId: string,
  handle: RunnerHandle,
): Promise<void> {
  await deps.db
    .update(runnerExecutions)
    .set({ handle, heartbeatAt: sql`now()` })
    .where(eq(runnerExecutions.id, executionId));
}

/**
 * Proves the execution is alive and asks whether it should go on: false once its
 * attempt was stopped (pause, abort, supersede) by any process.
 */
export async function heartbeatExecution(deps: EngineDeps, executionId: string): Promise<boolean> {
  const [row] = await deps.db
    .update(runnerExecutions)
    .set({ heartbeatAt: sql`now()` })
    .where(eq(runnerExecutions.id, executionId))
    .returning({
      state: runnerExecutions.state,
      attemptState: sql<string>`(select ${phaseAttempts.state} from ${phaseAttempts} where ${phaseAttempts.id} = ${runnerExecutions.attemptId})`,
    });
  return row?.state === "running" && row.attemptState === "running";
}

/**
 * The phase job's heartbeat, from its start to its result: proves the attempt's
 * worker is alive through preparation, the agent and the commit alike, and asks
 * whether it should go on — false once any process stopped the attempt.
 */
export async function heartbeatAttempt(deps: EngineDeps, attemptId: string): Promise<boolean> {
  const [row] = await deps.db
    .update(phaseAttempts)
    .set({ heartbeatAt: sql`now()` })
    .where(eq(phaseAttempts.id, attemptId))
    .returning({ state: phaseAttempts.state });
  return row?.state === "running";
}

export interface FinishExecutionInput {
  runId: string;
  executionId: string;
  state: Exclude<ExecutionState, "running">;
  exit: Record<string, unknown>;
  /** What was captured of the transcript before disposal. */
  transcript?: { seq: number; text: string }[];
  /** The runner already disposed of the execution. */
  disposed?: boolean;
}

/**
 * Records how an execution ended (with its transcript and disposal, in the same
 * statement), and one `execution.finished` event per execution.
 */
export async function finishExecution(
  deps: EngineDeps,
  input: FinishExecutionInput,
): Promise<void> {
  await withRun(deps, input.runId, async (t) => {
    const [row] = await t.tx
      .update(runnerExecutions)
      .set({
        // A run that ended meanwhile already marked it failed_needs_human; keep that.
        state: sql`case when ${runnerExecutions.state} = 'running' then ${input.state} else ${runnerExecutions.state} end`,
        exit: storableExit(input.exit),
        endedAt: sql`coalesce(${runnerExecutions.endedAt}, now())`,
        ...transcriptAppend(input.transcript ?? []),
        ...(input.disposed === true
          ? { disposedAt: sql`coalesce(${runnerExecutions.disposedAt}, now())` }
          : {}),
      })
      .where(eq(runnerExecutions.id, input.executionId))
      .returning({ state: runnerExecutions.state, revision: runnerExecutions.revision });
    await t.emit(
      "execution.finished",
      {
        executionId: input.executionId,
        state: row?.state,
        revision: row?.revision,
        ...storableExit(input.exit),
      },
      input.executionId,
    );
  });
}

/** Appends captured transcript text and moves the capture offset past it. */
export async function appendTranscript(
  deps: EngineDeps,
  executionId: string,
  chunks: { seq: number; text: string }[],
): Promise<void> {
  if (chunks.length === 0) return;
  await deps.db
    .update(runnerExecutions)
    .set(transcriptAppend(chunks))
    .where(eq(runnerExecutions.id, executionId));
}

/**
 * What a running agent has spent so far, as its meter reads it from the transcript:
 * stored on its attempt while the attempt runs (the attempt's result stores the
 * final figure), so a phase people watch shows its cost as it grows.
 */
export async function recordAttemptSpending(
  deps: EngineDeps,
  executionId: string,
  costUsd: number,
): Promise<void> {
  if (!Number.isFinite(costUsd) || costUsd < 0) return;
  await deps.db
    .update(phaseAttempts)
    .set({ costUsd })
    .where(
      and(
        eq(phaseAttempts.state, "running"),
        inArray(
          phaseAttempts.id,
          deps.db
            .select({ id: runnerExecutions.attemptId })
            .from(runnerExecutions)
            .where(eq(runnerExecutions.id, executionId)),
        ),
      ),
    );
}

export async function markDisposed(deps: EngineDeps, executionId: string): Promise<void> {
  await deps.db
    .update(runnerExecutions)
    .set({ disposedAt: sql`coalesce(${runnerExecutions.disposedAt}, now())` })
    .where(eq(runnerExecutions.id, executionId));
}

/** The executions cleanup should visit: the listed ones, or all of the run's. */
export async function executionsForCleanup(
  deps: EngineDeps,
  runId: string,
  executionIds?: string[],
): Promise<ExecutionRow[]> {
  return deps.db
    .select()
    .from(runnerExecutions)
    .where(
      and(
        eq(runnerExecutions.runId, runId),
        executionIds === undefined ? undefined : inArray(runnerExecutions.id, executionIds),
      ),
    );
}

/** Records that cleanup could not capture or stop an execution; the job then retries. */
export async function recordCleanupFailure(
  deps: EngineDeps,
  input: {
    runId: string;
    executionId: string;
    step: "capture" | "dispose";
    code: string;
    message: string;
    attempt: string;
  },
): Promise<void> {
  await withRun(deps, input.runId, async (t) => {
    await t.emit(
      "cleanup.failed",
      {
        executionId: input.executionId,
        step: input.step,
        code: input.code,
        category: "runner",
        message: storable(input.message, 4000),
      },
      `${input.executionId}:${input.step}:${input.attempt}`,
    );
  });
}

/**
 * Which of these executions are over (ended, or their attempt no longer running):
 * what a runner's reaper may remove. Ids this database does not know are not
 * reported (they may belong to another devflow sharing the host).
 */
export async function executionsOver(
  deps: EngineDeps,
  executionIds: string[],
): Promise<Set<string>> {
  const valid = executionIds.filter((id) => /^[0-9a-f-]{36}$/i.test(id));
  if (valid.length === 0) return new Set();
  const rows = await deps.db
    .select({
      id: runnerExecutions.id,
      state: runnerExecutions.state,
      attemptState: phaseAttempts.state,
    })
    .from(runnerExecutions)
    .innerJoin(phaseAttempts, eq(phaseAttempts.id, runnerExecutions.attemptId))
    .where(inArray(runnerExecutions.id, valid));
  return new Set(
    rows
      .filter((row) => row.state !== "running" || row.attemptState !== "running")
      .map((row) => row.id),
  );
}
