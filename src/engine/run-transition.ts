import { eq, sql } from "drizzle-orm";
import { fromDrizzle, type SendOptions } from "pg-boss";
import type { Tx } from "../db/client.ts";
import type { RunRow } from "../db/rows.ts";
import { runEvents, runs } from "../db/schema/index.ts";
import { DevflowError } from "../errors.ts";
import { QUEUES, type QueueName, type QueuePayloads } from "./outbox.ts";
import type { EngineDeps } from "./types.ts";

/**
 * One transition of one run, inside one transaction that holds the run's row lock.
 * Everything it does (rows, events, jobs) commits together or not at all.
 */
export interface Transition {
  tx: Tx;
  deps: EngineDeps;
  /** The run as it is now in this transaction; `updateRun` keeps it current. */
  run: RunRow;
  updateRun(patch: Partial<Omit<RunRow, "id" | "lastEventSeq">>): Promise<void>;
  /**
   * Appends an event with the next gapless `seq`. `key` makes it idempotent: an
   * event whose key exists already is not written again (and takes no seq).
   */
  emit(type: string, payload: Record<string, unknown>, key: string): Promise<boolean>;
  /** Enqueues a job in this transaction (pg-boss's drizzle adapter). */
  enqueue<Q extends QueueName>(
    queue: Q,
    data: QueuePayloads[Q],
    options?: SendOptions,
  ): Promise<void>;
  /** An error to throw once the transaction has committed (the state it reports is kept). */
  failAfterCommit(error: DevflowError): void;
}

/**
 * Locks `runId` inside `tx` and returns the transition handle for it. Events take
 * their `seq` from the in-memory counter; `flush` (or any `updateRun`) writes the
 * counter back, once per transaction rather than once per event.
 */
export async function lockRun(
  tx: Tx,
  deps: EngineDeps,
  runId: string,
): Promise<Transition & { deferred: DevflowError[]; flush(): Promise<void> }> {
  const [row] = await tx.select().from(runs).where(eq(runs.id, runId)).for("update");
  if (row === undefined) {
    throw new DevflowError(`run ${runId} does not exist`, {
      class: "human",
      code: "run_not_found",
    });
  }
  const deferred: DevflowError[] = [];
  let flushedSeq = row.lastEventSeq;
  let publishedAtSeq = row.lastEventSeq;
  const transition: Transition & { deferred: DevflowError[]; flush(): Promise<void> } = {
    tx,
    deps,
    run: row,
    deferred,
    async updateRun(patch) {
      const seq = transition.run.lastEventSeq;
      const [updated] = await tx
        .update(runs)
        .set({ ...patch, lastEventSeq: seq, updatedAt: sql`now()` })
        .where(eq(runs.id, runId))
        .returning();
      if (updated !== undefined) transition.run = updated;
      flushedSeq = seq;
    },
    async emit(type, payload, key) {
      const seq = transition.run.lastEventSeq + 1;
      const inserted = await tx
        .insert(runEvents)
        .values({ runId, seq, type, payload, idempotencyKey: `${runId}:${type}:${key}` })
        .onConflictDoNothing({ target: runEvents.idempotencyKey })
        .returning({ id: runEvents.id });
      if (inserted.length === 0) return false;
      transition.run = { ...transition.run, lastEventSeq: seq };
      eventsOf(tx).push({ runId, seq, type });
      return true;
    },
    async enqueue(queue, data, options = {}) {
      await deps.boss.send(queue, data, { ...options, db: fromDrizzle(tx, sql) });
    },
    failAfterCommit(error) {
      deferred.push(error);
    },
    async flush() {
      // A run from GitHub shows its state there: anything that appended events asks
      // for a publish. The queue keeps at most one waiting per run, and it reads the
      // state when it runs, so a burst of transitions is one publish.
      if (
        transition.run.installationId !== null &&
        transition.run.lastEventSeq !== publishedAtSeq
      ) {
        publishedAtSeq = transition.run.lastEventSeq;
        await transition.enqueue(QUEUES.publishRun, { runId }, { singletonKey: runId });
      }
      if (transition.run.lastEventSeq === flushedSeq) return;
      await tx
        .update(runs)
        .set({ lastEventSeq: transition.run.lastEventSeq })
        .where(eq(runs.id, runId));
      flushedSeq = transition.run.lastEventSeq;
    },
  };
  return transition;
}

/** The events a transaction appended, logged once it commits (never for a rolled-back one). */
const appended = new WeakMap<Tx, AppendedEvent[]>();

interface AppendedEvent {
  runId: string;
  seq: number;
  type: string;
}

function eventsOf(tx: Tx): AppendedEvent[] {
  let events = appended.get(tx);
  if (events === undefined) {
    events = [];
    appended.set(tx, events);
  }
  return events;
}

/** A run that just parked (at a gate, or paused) frees its slot: admission looks at the queue. */
export async function onParked(t: Transition): Promise<void> {
  await t.enqueue(
    QUEUES.admitRuns,
    { reason: `run ${t.run.id} ${t.run.state}` },
    { singletonKey: "admit-on-park" },
  );
}

/**
 * Runs `fn` in one engine transaction and, once it has committed, writes one log
 * line per run event it appended (with the run id; the delivery id comes from the
 * log context of the webhook job that asked).
 */
export async function inTransaction<T>(deps: EngineDeps, fn: (tx: Tx) => Promise<T>): Promise<T> {
  let events: AppendedEvent[] = [];
  const result = await deps.db.transaction(async (tx) => {
    const value = await fn(tx);
    events = eventsOf(tx);
    return value;
  });
  for (const event of events) {
    deps.log.info({ runId: event.runId, seq: event.seq, event: event.type }, "run event");
  }
  return result;
}

/**
 * Runs `fn` as one transition of `runId`: begin, lock the run, `fn`, commit; then
 * throws the first error `fn` deferred, so a failure that was recorded stays recorded.
 */
export async function withRun<T>(
  deps: EngineDeps,
  runId: string,
  fn: (t: Transition) => Promise<T>,
): Promise<T> {
  const { result, deferred } = await inTransaction(deps, async (tx) => {
    const transition = await lockRun(tx, deps, runId);
    const value = await fn(transition);
    await transition.flush();
    return { result: value, deferred: transition.deferred };
  });
  const [first] = deferred;
  if (first !== undefined) throw first;
  return result;
}
