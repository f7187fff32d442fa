import { inArray, sql } from "drizzle-orm";
import type pg from "pg";
import { fromDrizzle, type PgBoss } from "pg-boss";
import type { Logger } from "pino";
import type { Db } from "../db/client.ts";
import { webhookDeliveries } from "../db/schema/index.ts";
import { QUEUES } from "../engine/outbox.ts";
import { DELIVERY_CHANNEL } from "./record-delivery.ts";

/** Deliveries queued per transaction. */
const BATCH = 200;
/** However quiet the channel, recorded deliveries are looked for this often. */
const POLL_MS = 2_000;

export interface DeliveryDispatcher {
  /** Queues whatever is recorded and not queued yet; resolves when none is left. */
  dispatchNow(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Moves recorded deliveries (`received`) onto the processing queue, in batches:
 * in one transaction it claims them (SKIP LOCKED, so every devflow process can run
 * one), inserts their jobs and marks them `queued`. It wakes on the NOTIFY each
 * recorded delivery sends, and polls as a floor, so a delivery recorded while no
 * dispatcher listened (or whose NOTIFY was lost) is queued all the same.
 */
export async function startDeliveryDispatcher({
  db,
  pool,
  boss,
  log,
}: {
  db: Db;
  pool: pg.Pool;
  boss: PgBoss;
  log: Logger;
}): Promise<DeliveryDispatcher> {
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;

  const dispatchBatch = () =>
    db.transaction(async (tx) => {
      const claimed = await tx.execute<{ id: string }>(sql`
        select id from webhook_deliveries where outcome = 'received'
        order by received_at limit ${BATCH} for update skip locked`);
      const ids = claimed.rows.map((row) => row.id);
      if (ids.length === 0) return 0;
      await boss.insert(
        QUEUES.processDelivery,
        ids.map((deliveryId) => ({ data: { deliveryId } })),
        { db: fromDrizzle(tx, sql) },
      );
      await tx
        .update(webhookDeliveries)
        .set({ outcome: "queued" })
        .where(inArray(webhookDeliveries.id, ids));
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
          again = false;
          while (!stopped && (await dispatchBatch()) === BATCH) {}
        } while (again && !stopped);
      } catch (error) {
        log.warn({ err: error }, "could not queue recorded deliveries; trying again shortly");
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  // A dedicated connection listens; losing it only leaves the poll until it is back.
  let listener: pg.PoolClient | undefined;
  let connecting: Promise<void> | undefined;
  const onNotification = () => {
    void dispatchNow();
  };
  /** Gives the listening connection back (destroyed when it failed); only once. */
  const dropListener = async (client: pg.PoolClient, failed: Error | undefined) => {
    if (listener !== client) return;
    listener = undefined;
    client.off("notification", onNotification);
    if (failed === undefined) await client.query(`unlisten ${DELIVERY_CHANNEL}`).catch(() => {});
    client.release(failed ?? false);
  };
  const listen = () => {
    connecting ??= (async () => {
      let client: pg.PoolClient | undefined;
      try {
        client = await pool.connect();
        const connected = client;
        connected.on("notification", onNotification);
        // Kept after the connection goes back to the pool (a late error on it must find
        // a listener); it only ever gives back the connection that is still listening.
        connected.on("error", (error: Error) => void dropListener(connected, error));
        listener = connected;
        await connected.query(`listen ${DELIVERY_CHANNEL}`);
        if (stopped) await dropListener(connected, undefined);
      } catch (error) {
        if (client !== undefined && listener === client) await dropListener(client, error as Error);
        if (!stopped) log.warn({ err: error }, "could not listen for recorded deliveries; polling");
      } finally {
        connecting = undefined;
      }
    })();
    return connecting;
  };
  await listen();
  const timer = setInterval(() => {
    if (listener === undefined && !stopped) void listen();
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
      await connecting;
      if (listener !== undefined) await dropListener(listener, undefined);
    },
  };
}
