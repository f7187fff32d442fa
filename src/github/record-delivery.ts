import type { Db } from "../db/client.ts";

/** Why `recordDelivery` refused a body: it is not JSON PostgreSQL accepts. */
export class NotJson extends Error {}

export interface RecordDeliveryOptions {
  db: Db;
  id: string;
  event: string;
  /** The raw body, as signed: PostgreSQL parses it (the request never does). */
  body: string;
}

const RECORD_DELIVERY = `
  with payload as (select $1::jsonb as p),
  recorded as (
    insert into webhook_deliveries (id, event, action, installation_id, repository, payload, outcome)
    select $2, $3,
      case when jsonb_typeof(p->'action') = 'string' then p->>'action' end,
      case when jsonb_typeof(p->'installation'->'id') = 'number'
        then (p->'installation'->>'id')::bigint end,
      case when jsonb_typeof(p->'repository'->'full_name') = 'string'
        then p->'repository'->>'full_name' end,
      p, 'received'
    from payload
    on conflict (id) do nothing
    returning id
  ),
  inboxed as (insert into delivery_inbox (delivery_id) select id from recorded returning seq)
  select count(*)::int as inserted from inboxed`;

/**
 * All a webhook request does, in one statement and one round trip: record the
 * delivery by its id (`received`) and put it in the delivery inbox; the dispatcher
 * queues its processing
 * (dispatch-deliveries.ts). A redelivery finds its id taken and changes
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
    // A named statement: each connection parses and plans it once.
    const result = await db.$client.query<{ inserted: number }>({
      name: "devflow_record_delivery",
      text: RECORD_DELIVERY,
      values: [body, id, event],
    });
    return { duplicate: (result.rows[0]?.inserted ?? 0) === 0 };
  } catch (error) {
    // 22P02: invalid JSON; 22P05: JSON PostgreSQL cannot store (a \u0000 escape).
    const code = (error as { code?: string }).code;
    if (code === "22P02" || code === "22P05") throw new NotJson((error as Error).message);
    throw error;
  }
}
