import { setTimeout as sleep } from "node:timers/promises";
import { sql } from "drizzle-orm";
import { fromDrizzle, type PgBoss } from "pg-boss";
import type { Logger } from "pino";
import type { Db } from "../db/client.ts";
import { QUEUES } from "../engine/outbox.ts";

/** Deliveries queued per transaction. */
const BATCH = 200;
/**
 * Deliveries per processing job. A job row per delivery was most of what intake
 * cost; a batch keeps the order deliveries arrived in, and a job small enough that
 * two workers still share a burst.
 */
const PER_JOB = 25;
/** Recorded deliveries are looked for this often, woken or not. */
const POLL_MS = 2_000;
/** The least time between two passes: a wake-up sooner waits for more deliveries. */
const GATHER_MS = 50;

export interface DeliveryDispatcher {
  /** Queues whatever is recorded and not queued yet; resolves when none is left. */
  dispatchNow(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Moves recorded deliveries (those in the delivery inbox) onto the processing queue, in batches:
 * in one transaction it claims them (SKIP LOCKED, so every devflow process can run
 * one), inserts a job per few of them and deletes their inbox entries. The webhook endpoint of the same
 * process wakes it after each delivery it records (wake-ups while a batch runs make
 * one more pass, so a burst becomes a few batches); it also polls, so a delivery
 * recorded by a process that stopped before queueing it is queued all the same.
 * (A NOTIFY per delivery would do the waking across processes, but PostgreSQL
 * serialises the commits of notifying transactions: it halved intake.)
 */
export async function startDeliveryDispatcher({
  db,
  boss,
  log,
}: {
  db: Db;
  boss: PgBoss;
  log: Logger;
}): Promise<DeliveryDispatcher> {
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  let lastPassAt = Number.NEGATIVE_INFINITY;

  // Taken out of the inbox in one statement and queued in the same transaction.
  const dispatchBatch = () =>
    db.transaction(async (tx) => {
      const claimed = await tx.execute<{ seq: string; delivery_id: string }>(sql`
        delete from delivery_inbox
        where seq in (
          select seq from delivery_inbox order by seq limit ${BATCH} for update skip locked)
        returning seq, delivery_id`);
      const ids = claimed.rows
        .sort((a, b) => Number(a.seq) - Number(b.seq))
        .map((row) => row.delivery_id);
      if (ids.length > 0) {
        const jobs = [];
        for (let at = 0; at < ids.length; at += PER_JOB)
          jobs.push({ data: { deliveryIds: ids.slice(at, at + PER_JOB) } });
        await boss.insert(QUEUES.processDelivery, jobs, { db: fromDrizzle(tx, sql) });
      }
      return ids.length;
    });

  const dispatchNow = (): Promise<void> => {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          // A delivery after a quiet moment is queued at once (a person waits for its
          // 👀); one that comes soon after a pass waits for the rest of its burst, so a
          // steady stream costs a pass every GATHER_MS rather than one per delivery.
          const wait = lastPassAt + GATHER_MS - performance.now();
          if (wait > 0) await sleep(wait);
          // Wake-ups while it waited are served by this pass.
          again = false;
          while (!stopped && (await dispatchBatch()) === BATCH) {}
          lastPassAt = performance.now();
        } while (again && !stopped);
      } catch (error) {
        log.warn({ err: error }, "could not queue recorded deliveries; trying again shortly");
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  const timer = setInterval(() => {
    void dispatchNow();
  }, POLL_MS);
  timer.unref();
  void dispatchNow();

  return {
    dispatchNow,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
