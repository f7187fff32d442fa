import { sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";

/** What a delivery's NOTIFY says: "a delivery was recorded" (the dispatcher wakes). */
export const DELIVERY_CHANNEL = "devflow_deliveries";

/** Why `recordDelivery` refused a body: it is not JSON PostgreSQL accepts. */
export class NotJson extends Error {}

export interface RecordDeliveryOptions {
  db: Db;
  id: string;
  event: string;
  /** The raw body, as signed: PostgreSQL parses it (the request never does). */
  body: string;
}

/**
 * All a webhook request does, in one statement and one round trip: record the
 * delivery by its id (`received`) and wake the dispatcher, which queues its
 * processing (dispatch-deliveries.ts). A redelivery finds its id taken and changes
 * nothing. The payload's action, installation and repository are read by
 * PostgreSQL from the body; permission checks, repository config and engine
 * commands happen in the job.
 */
export async function recordDelivery({
  db,
  id,
  event,
  body,
}: RecordDeliveryOptions): Promise<{ duplicate: boolean }> {
  try {
    const result = await db.execute<{ inserted: number }>(sql`
      with payload as (select ${body}::jsonb as p),
      recorded as (
        insert into webhook_deliveries (id, event, action, installation_id, repository, payload, outcome)
        select ${id}, ${event},
          case when jsonb_typeof(p->'action') = 'string' then p->>'action' end,
          case when jsonb_typeof(p->'installation'->'id') = 'number'
            then (p->'installation'->>'id')::bigint end,
          case when jsonb_typeof(p->'repository'->'full_name') = 'string'
            then p->'repository'->>'full_name' end,
          p, 'received'
        from payload
        on conflict (id) do nothing
        returning id
      )
      select count(*)::int as inserted,
        (select pg_notify(${DELIVERY_CHANNEL}, '') from recorded limit 1) as woke
      from recorded`);
    return { duplicate: (result.rows[0]?.inserted ?? 0) === 0 };
  } catch (error) {
    // 22P02: invalid JSON; 22P05: JSON PostgreSQL cannot store (a \u0000 escape).
    const code = (error as { code?: string; cause?: { code?: string } }).cause?.code;
    if (code === "22P02" || code === "22P05" || (error as { code?: string }).code === "22P02")
      throw new NotJson((error as Error).message);
    throw error;
  }
}
