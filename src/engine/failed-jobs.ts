import { type SQL, sql } from "drizzle-orm";
import { DevflowError } from "../errors.ts";
import { QUEUES } from "./outbox.ts";
import type { EngineDeps } from "./types.ts";

/** A job that failed every retry: work that stopped, until an operator retries it. */
export interface FailedJob {
  id: string;
  queue: string;
  runId: string | null;
  /** The deliveries it was to process (a delivery job's), in order. */
  deliveryIds: string[];
  /** Its last error, as pg-boss recorded it. */
  error: string;
  failedAt: Date;
  retries: number;
}

interface FailedRow {
  id: string;
  name: string;
  data: Record<string, unknown> | null;
  output: { message?: string } | string | null;
  retry_count: number;
  completed_on: Date;
}

function deliveriesOf(data: Record<string, unknown> | null): string[] {
  if (typeof data?.deliveryId === "string") return [data.deliveryId];
  const ids = data?.deliveryIds;
  return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === "string") : [];
}

function toFailedJob(row: FailedRow): FailedJob {
  const output = row.output;
  const error =
    typeof output === "string"
      ? output
      : (output?.message ?? (output === null ? "no error recorded" : JSON.stringify(output)));
  return {
    id: row.id,
    queue: row.name,
    runId: typeof row.data?.runId === "string" ? row.data.runId : null,
    deliveryIds: deliveriesOf(row.data),
    error,
    failedAt: new Date(row.completed_on),
    retries: row.retry_count,
  };
}

/**
 * The jobs of devflow's queues that failed every retry and were not retried
 * since (newest first): all of them, one run's, or the ones named.
 */
export async function listFailedJobs(
  deps: Pick<EngineDeps, "db">,
  options: { runId?: string; ids?: string[]; limit?: number } = {},
): Promise<FailedJob[]> {
  const filters: SQL[] = [
    sql`state = 'failed'`,
    sql`name in (${sql.join(
      Object.values(QUEUES)
        .filter((queue) => queue !== QUEUES.deadLetter)
        .map((queue) => sql`${queue}`),
      sql`, `,
    )})`,
  ];
  if (options.runId !== undefined) filters.push(sql`data->>'runId' = ${options.runId}`);
  if (options.ids !== undefined) {
    const valid = options.ids.filter((id) => /^[0-9a-f-]{36}$/i.test(id));
    if (valid.length === 0) return [];
    filters.push(
      sql`id::text in (${sql.join(
        valid.map((id) => sql`${id}`),
        sql`, `,
      )})`,
    );
  }
  const result = await deps.db.execute(
    sql`select id, name, data, output, retry_count, completed_on from pgboss.job
        where ${sql.join(filters, sql` and `)}
        order by completed_on desc limit ${options.limit ?? 100}`,
  );
  return (result.rows as unknown as FailedRow[]).map(toFailedJob);
}

/**
 * Retries failed jobs (pg-boss puts them back, with one more try): the ones
 * named, or all. Returns what was retried; an id that is not a failed job is an
 * error naming it.
 */
export async function retryFailedJobs(
  deps: Pick<EngineDeps, "db" | "boss">,
  which: string[] | "all",
): Promise<FailedJob[]> {
  const failed = await listFailedJobs(deps, which === "all" ? { limit: 1000 } : { ids: which });
  if (which !== "all") {
    const missing = which.filter((id) => !failed.some((job) => job.id === id));
    if (missing.length > 0) {
      throw new DevflowError(`no failed job ${missing.join(", ")}`, {
        class: "human",
        code: "job_not_found",
        recoveryHint: "devflow jobs failed lists them",
      });
    }
  }
  const byQueue = new Map<string, string[]>();
  for (const job of failed) byQueue.set(job.queue, [...(byQueue.get(job.queue) ?? []), job.id]);
  for (const [queue, ids] of byQueue) await deps.boss.retry(queue, ids);
  return failed;
}
