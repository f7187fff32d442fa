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
  // PostgreSQL's text cannot hold a NUL (a \u0000 in the JSON): it would fail the
  // statement, and every delivery recorded with it.
  const text = (value: unknown) =>
    typeof value === "string" ? value.replaceAll("\u0000", "\uFFFD") : null;
  const installationId = field(field(payload, "installation"), "id");
  return {
    ...delivery,
    action: text(field(payload, "action")),
    installationId: Number.isSafeInteger(installationId) ? (installationId as number) : null,
    repository: text(field(field(payload, "repository"), "full_name")),
  };
}

/**
 * Records deliveries and their inbox entries in one statement: only those whose id
 * is new get an inbox entry, in the order given. Rows are inserted in id order, so
 * two statements (of this process or another) holding the same ids wait for each
 * other rather than deadlock. The body is kept as text, exactly as it was signed;
 * PostgreSQL does not parse it (that was most of what recording cost it), the
 * processing job does.
 */
const RECORD_DELIVERIES = `
  with incoming as (
    select * from unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[])
      with ordinality as d(id, event, action, installation_id, repository, body, n)
  ),
  recorded as (
    insert into webhook_deliveries (id, event, action, installation_id, repository, body, outcome)
    select id, event, action, installation_id, repository, body, 'received'
    from incoming
    order by id
    on conflict (id) do nothing
    returning id
  )
  insert into delivery_inbox (delivery_id)
  select id from incoming join recorded using (id) order by n
  returning delivery_id`;

/** At most this many deliveries in one statement, and bodies of at most this many characters (a larger body goes alone). */
const MAX_BATCH = 64;
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
/**
 * Bodies waiting for a statement: past this, a delivery is refused at once (503;
 * GitHub lists it as failed and the reconciler asks for it again) rather than held.
 */
const MAX_WAITING_BYTES = 256 * 1024 * 1024;
/** A statement that has not answered by then fails (the request has had its 503 by then). */
const STATEMENT_TIMEOUT_MS = 10_000;
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
 * Whether PostgreSQL refused the statement for what one of its rows holds (a data
 * exception, an integrity or size limit) or aborted it for another transaction (a
 * deadlock, a serialisation failure): then trying each delivery alone isolates it.
 * A lost connection or a statement that timed out would only fail again, once per
 * delivery, holding the statement's place for as long.
 */
function mayBeOneDeliverys(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && /^(22|23|54|40)[0-9A-Z]{3}$/.test(code);
}

/**
 * Group commit for webhook deliveries. A delivery that arrives while nothing is
 * being recorded goes to the database at once, alone; under load, the deliveries
 * that arrive while earlier statements run are recorded together by the next one,
 * so each costs a row and not a transaction, and none waits longer than the
 * statements ahead of it. Every caller still learns of its own delivery only once
 * it is committed. A body that is not JSON is refused before it joins a statement;
 * a statement that fails is tried again one delivery at a time, so a delivery the
 * database refuses fails alone.
 */
export function createDeliveryRecorder(db: Db): DeliveryRecorder {
  let pending: Pending[] = [];
  let waitingBytes = 0;
  let inFlight = 0;

  const run = async (batch: Recordable[]): Promise<Set<string>> => {
    // A named statement: each connection parses and plans it once. (node-pg reads a
    // query's own `query_timeout`; its types know only the pool's.)
    const statement = {
      name: "devflow_record_deliveries",
      text: RECORD_DELIVERIES,
      query_timeout: STATEMENT_TIMEOUT_MS,
      values: [
        batch.map((d) => d.id),
        batch.map((d) => d.event),
        batch.map((d) => d.action),
        batch.map((d) => d.installationId),
        batch.map((d) => d.repository),
        batch.map((d) => d.body),
      ],
    };
    const result = await db.$client.query<{ delivery_id: string }>(statement);
    return new Set(result.rows.map((row) => row.delivery_id));
  };

  const settle = async (batch: Pending[]): Promise<void> => {
    try {
      const inserted = await run(batch);
      for (const delivery of batch) delivery.resolve({ duplicate: !inserted.has(delivery.id) });
    } catch (error) {
      if (batch.length === 1 || !mayBeOneDeliverys(error)) {
        for (const delivery of batch) delivery.reject(error);
        return;
      }
      // What failed may be one delivery's: each is tried on its own, so only it fails.
      for (const delivery of batch) await settle([delivery]);
    }
  };

  const flush = () => {
    while (inFlight < IN_FLIGHT && pending.length > 0) {
      // One id at most once in a statement: a second copy waits for the next, which
      // finds the id taken and answers `duplicate`.
      const ids = new Set<string>();
      const batch: Pending[] = [];
      const rest: Pending[] = [];
      let bytes = 0;
      for (const delivery of pending) {
        const fits =
          batch.length === 0 ||
          (batch.length < MAX_BATCH && bytes + delivery.body.length <= MAX_BATCH_BYTES);
        if (fits && !ids.has(delivery.id)) {
          ids.add(delivery.id);
          batch.push(delivery);
          bytes += delivery.body.length;
        } else rest.push(delivery);
      }
      pending = rest;
      waitingBytes -= bytes;
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
        const recorded = recordable(delivery);
        if (waitingBytes + recorded.body.length > MAX_WAITING_BYTES && pending.length > 0) {
          reject(new Error("too many deliveries are waiting for the database"));
          return;
        }
        pending.push({ ...recorded, resolve, reject });
        waitingBytes += recorded.body.length;
        flush();
      });
    },
  };
}
