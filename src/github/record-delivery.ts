import type { Db } from "../db/client.ts";

/** Why a delivery was refused: its body is not JSON. */
export class NotJson extends Error {}

export interface Delivery {
  id: string;
  event: string;
  /** The raw body, as signed: recorded as it came, and parsed again by the processing job. */
  body: string;
}

export interface DeliveryRecorder {
  /**
   * Records the delivery by its id (`received`) with its entry in the delivery
   * inbox, durably, before it resolves; `duplicate` when the id was recorded before
   * (a redelivery changes nothing). Rejects with `NotJson` for a body that is not JSON.
   */
  record(delivery: Delivery): Promise<{ duplicate: boolean }>;
}

/** What a delivery's row says of it besides its body (read here, so PostgreSQL parses nothing). */
interface Recordable extends Delivery {
  action: string | null;
  installationId: number | null;
  repository: string | null;
}

/** The body parsed (to refuse what is not JSON) and the few fields its row keeps. */
function recordable(delivery: Delivery): Recordable {
  let payload: unknown;
  try {
    payload = JSON.parse(delivery.body);
  } catch (error) {
    throw new NotJson((error as Error).message);
  }
  const field = (value: unknown, key: string): unknown =>
    typeof value === "object" && value !== null
      ? (value as Record<string, unknown>)[key]
      : undefined;
  const action = field(payload, "action");
  const installationId = field(field(payload, "installation"), "id");
  const repository = field(field(payload, "repository"), "full_name");
  return {
    ...delivery,
    action: typeof action === "string" ? action : null,
    installationId: Number.isSafeInteger(installationId) ? (installationId as number) : null,
    repository: typeof repository === "string" ? repository : null,
  };
}

/**
 * Records deliveries and their inbox entries in one statement: only those whose id
 * is new get an inbox entry, in the order given. The body is kept as text, exactly
 * as it was signed; PostgreSQL does not parse it (that was most of what recording
 * cost it), the processing job does.
 */
const RECORD_DELIVERIES = `
  with recorded as (
    insert into webhook_deliveries (id, event, action, installation_id, repository, body, outcome)
    select d.id, d.event, d.action, d.installation_id, d.repository, d.body, 'received'
    from unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[])
      with ordinality as d(id, event, action, installation_id, repository, body, n)
    order by d.n
    on conflict (id) do nothing
    returning id
  )
  insert into delivery_inbox (delivery_id) select id from recorded returning delivery_id`;

/** At most this many deliveries in one statement. */
const MAX_BATCH = 64;
/**
 * Statements in flight at once. While they run, the deliveries that arrive wait
 * and go together in the next one: one commit (and one WAL flush) for all of them.
 */
const IN_FLIGHT = 2;

interface Pending extends Recordable {
  resolve(result: { duplicate: boolean }): void;
  reject(error: unknown): void;
}

/**
 * Group commit for webhook deliveries. A delivery that arrives while nothing is
 * being recorded goes to the database at once, alone; under load, the deliveries
 * that arrive while earlier statements run are recorded together by the next one,
 * so each costs a row and not a transaction, and none waits longer than the
 * statements ahead of it. Every caller still learns of its own delivery only once
 * it is committed. A body that is not JSON is refused before it joins a statement.
 */
export function createDeliveryRecorder(db: Db): DeliveryRecorder {
  let pending: Pending[] = [];
  let inFlight = 0;

  const run = async (batch: Recordable[]): Promise<Set<string>> => {
    // A named statement: each connection parses and plans it once.
    const result = await db.$client.query<{ delivery_id: string }>({
      name: "devflow_record_deliveries",
      text: RECORD_DELIVERIES,
      values: [
        batch.map((d) => d.id),
        batch.map((d) => d.event),
        batch.map((d) => d.action),
        batch.map((d) => d.installationId),
        batch.map((d) => d.repository),
        batch.map((d) => d.body),
      ],
    });
    return new Set(result.rows.map((row) => row.delivery_id));
  };

  const settle = async (batch: Pending[]) => {
    try {
      const inserted = await run(batch);
      for (const delivery of batch) delivery.resolve({ duplicate: !inserted.has(delivery.id) });
    } catch (error) {
      for (const delivery of batch) delivery.reject(error);
    }
  };

  const flush = () => {
    while (inFlight < IN_FLIGHT && pending.length > 0) {
      // One id at most once in a statement: a second copy waits for the next, which
      // finds the id taken and answers `duplicate`.
      const ids = new Set<string>();
      const batch: Pending[] = [];
      const rest: Pending[] = [];
      for (const delivery of pending) {
        if (batch.length < MAX_BATCH && !ids.has(delivery.id)) {
          ids.add(delivery.id);
          batch.push(delivery);
        } else rest.push(delivery);
      }
      pending = rest;
      inFlight += 1;
      void settle(batch).finally(() => {
        inFlight -= 1;
        flush();
      });
    }
  };

  return {
    record(delivery) {
      return new Promise((resolve, reject) => {
        pending.push({ ...recordable(delivery), resolve, reject });
        flush();
      });
    },
  };
}
