import { inArray, max } from "drizzle-orm";
import type { Logger } from "pino";
import type { Db } from "../db/client.ts";
import { webhookDeliveries } from "../db/schema/index.ts";
import type { GitHubAccess } from "./github-access.ts";
import { WEBHOOK_EVENTS } from "./handlers/index.ts";

const SUBSCRIBED = new Set(WEBHOOK_EVENTS.map((name) => name.split(".")[0]));

export interface ReconcileDeliveriesOptions {
  db: Db;
  github: Pick<GitHubAccess, "appOctokit">;
  log: Logger;
  /** Deliveries GitHub sent since this moment are looked at (GitHub keeps 3 days of them). */
  since: Date;
  /** At most this many redeliveries are asked for in one pass. */
  maxRedeliveries?: number;
  /** At most this many pages of 100 deliveries are read in one pass. */
  maxPages?: number;
}

interface DeliveryAttempt {
  id: number;
  guid: string;
  delivered_at: string;
  status_code: number;
  event: string;
}

/**
 * Asks GitHub to send again what devflow missed: GitHub lists an app's recent
 * deliveries with how each attempt was answered, but never redelivers on its
 * own. A delivery (by its GUID) none of whose attempts devflow acknowledged —
 * it was down, or answered 503 while its database was — and that it has not
 * recorded either, is redelivered, once per pass and at most `maxRedeliveries`
 * of them. devflow acknowledges only what it recorded, and records each GUID
 * once, so asking twice is harmless. Returns the GUIDs it asked for.
 */
export async function reconcileDeliveries(options: ReconcileDeliveriesOptions): Promise<string[]> {
  const octokit = await options.github.appOctokit();
  const byGuid = new Map<string, DeliveryAttempt[]>();
  let pages = 0;
  for await (const page of octokit.paginate.iterator("GET /app/hook/deliveries", {
    per_page: 100,
  })) {
    pages += 1;
    const attempts = page.data as unknown as DeliveryAttempt[];
    for (const attempt of attempts) {
      if (new Date(attempt.delivered_at) < options.since) continue;
      byGuid.set(attempt.guid, [...(byGuid.get(attempt.guid) ?? []), attempt]);
    }
    const oldest = attempts.at(-1);
    if (oldest === undefined || new Date(oldest.delivered_at) < options.since) break;
    if (pages >= (options.maxPages ?? 20)) break;
  }
  const missed = [...byGuid.entries()].filter(
    ([, attempts]) =>
      SUBSCRIBED.has(attempts[0]?.event ?? "") &&
      !attempts.some((attempt) => attempt.status_code >= 200 && attempt.status_code < 300),
  );
  if (missed.length === 0) return [];
  const recorded = new Set(
    (
      await options.db
        .select({ id: webhookDeliveries.id })
        .from(webhookDeliveries)
        .where(
          inArray(
            webhookDeliveries.id,
            missed.map(([guid]) => guid),
          ),
        )
    ).map((row) => row.id),
  );
  const asked: string[] = [];
  for (const [guid, attempts] of missed) {
    if (recorded.has(guid) || asked.length >= (options.maxRedeliveries ?? 50)) continue;
    const latest = attempts.reduce((a, b) => (a.delivered_at > b.delivered_at ? a : b));
    await octokit.request("POST /app/hook/deliveries/{delivery_id}/attempts", {
      delivery_id: latest.id,
    });
    options.log.warn(
      { deliveryId: guid, event: latest.event, statusCode: latest.status_code },
      "asked GitHub to redeliver a delivery devflow missed",
    );
    asked.push(guid);
  }
  return asked;
}

const HOUR = 3_600_000;

/**
 * How far back a pass looks: to shortly before the newest delivery devflow
 * recorded (so an outage of the database or of devflow is covered however long
 * it lasted), at least the last hour, at most GitHub's three days.
 */
export async function reconcileSince(db: Db, now = Date.now()): Promise<Date> {
  const [row] = await db
    .select({ latest: max(webhookDeliveries.receivedAt) })
    .from(webhookDeliveries);
  const latest = row?.latest?.getTime() ?? now - 72 * HOUR;
  return new Date(Math.max(now - 72 * HOUR, Math.min(now - HOUR, latest - 10 * 60_000)));
}
