import { type SQL, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import type { EngineLimits } from "../engine/types.ts";

export interface QueueOverview {
  /** Runs waiting for a slot, first to start first, with the cap that holds each. */
  queued: {
    id: string;
    repository: string;
    issueNumber: number;
    position: number;
    heldBy: string;
  }[];
  /** pg-boss's queues: jobs waiting (created or retrying), active, failed. */
  queues: { name: string; waiting: number; active: number; failed: number }[];
  /** Processes that ran agents, with their last heartbeat and what they run now. */
  workers: { worker: string; lastHeartbeat: Date; running: number }[];
}

/** The queues page's tables: admission, pg-boss and the workers. */
export async function queueOverview(
  db: Db,
  limits: EngineLimits,
  repositories: string[],
): Promise<QueueOverview> {
  const [queuedRows, activeRows, jobRows, workerRows] = await Promise.all([
    db.execute(sql`select id, repository, issue_number, repository_cap from runs
                    where state = 'queued' order by created_at, id`),
    db.execute(sql`select repository, count(*)::int as n from runs
                    where state not in ('queued', 'completed', 'failed', 'aborted') group by repository`),
    db.execute(sql`select name,
                      count(*) filter (where state in ('created', 'retry'))::int as waiting,
                      count(*) filter (where state = 'active')::int as active,
                      count(*) filter (where state = 'failed')::int as failed
                    from pgboss.job group by name order by name`),
    db.execute(sql`select worker, max(heartbeat_at) as last, count(*) filter (where state = 'running')::int as running
                    from runner_executions where worker is not null
                    group by worker order by max(heartbeat_at) desc limit 50`),
  ]);
  const active = new Map(
    (activeRows.rows as { repository: string; n: number }[]).map((row) => [row.repository, row.n]),
  );
  const total = [...active.values()].reduce((sum, n) => sum + n, 0);
  const readable = new Set(repositories);
  const queued = (queuedRows.rows as Record<string, unknown>[])
    .map((row, index) => {
      const repository = String(row.repository);
      const cap = Math.min(
        limits.maxActiveRunsPerRepository,
        row.repository_cap === null ? Number.POSITIVE_INFINITY : Number(row.repository_cap),
      );
      const inRepository = active.get(repository) ?? 0;
      const heldBy =
        inRepository >= cap
          ? `${repository}: ${inRepository} active of its limit ${cap}`
          : total >= limits.maxActiveRuns
            ? `devflow: ${total} active of its limit ${limits.maxActiveRuns}`
            : "about to start";
      return {
        id: String(row.id),
        repository,
        issueNumber: Number(row.issue_number),
        position: index + 1,
        heldBy,
      };
    })
    // Positions count every queued run; a person sees the ones they can read.
    .filter((row) => readable.has(row.repository));
  return {
    queued,
    queues: jobRows.rows as QueueOverview["queues"],
    workers: (workerRows.rows as Record<string, unknown>[]).map((row) => ({
      worker: String(row.worker),
      lastHeartbeat: new Date(String(row.last)),
      running: Number(row.running),
    })),
  };
}

export interface ChartSeries {
  /** Hour starts, in Unix seconds. */
  hours: number[];
  runsStarted: number[];
  /** Mean duration of the phase attempts that ended in the hour, in seconds (null: none ended). */
  attemptSeconds: (number | null)[];
  costUsd: number[];
}

/** The last `hours` hours of runs started, attempt durations and cost, for the charts. */
export async function chartSeries(
  db: Db,
  repositories: string[],
  hours = 48,
): Promise<ChartSeries> {
  const inRepositories: SQL =
    repositories.length === 0
      ? sql`false`
      : sql`r.repository in (${sql.join(
          repositories.map((repository) => sql`${repository}`),
          sql`, `,
        )})`;
  const result = await db.execute(sql`
    with h as (
      select generate_series(date_trunc('hour', now()) - make_interval(hours => ${hours - 1}),
                             date_trunc('hour', now()), interval '1 hour') as hour
    )
    select extract(epoch from h.hour)::bigint as hour,
      (select count(*) from runs r where ${inRepositories}
         and r.created_at >= h.hour and r.created_at < h.hour + interval '1 hour')::int as runs,
      (select avg(extract(epoch from pa.ended_at - pa.started_at)) from phase_attempts pa
         join runs r on r.id = pa.run_id where ${inRepositories}
         and pa.ended_at >= h.hour and pa.ended_at < h.hour + interval '1 hour') as seconds,
      (select coalesce(sum(pa.cost_usd), 0) from phase_attempts pa
         join runs r on r.id = pa.run_id where ${inRepositories}
         and pa.ended_at >= h.hour and pa.ended_at < h.hour + interval '1 hour') as cost
    from h order by h.hour`);
  const rows = result.rows as Record<string, unknown>[];
  return {
    hours: rows.map((row) => Number(row.hour)),
    runsStarted: rows.map((row) => Number(row.runs)),
    attemptSeconds: rows.map((row) =>
      row.seconds === null ? null : Math.round(Number(row.seconds) * 10) / 10,
    ),
    costUsd: rows.map((row) => Number(row.cost)),
  };
}
