import type pg from "pg";
import { RUN_STATES } from "../db/schema/index.ts";
import { QUEUES } from "../engine/outbox.ts";
import { FAILURE_CATEGORIES } from "../errors.ts";

/**
 * devflow's Prometheus metrics. Two kinds:
 * - read from the database at scrape time (runs by state, phase attempt
 *   durations, queue depth and age, delivery processing time, runner failures):
 *   the same for every process, survive restarts, and count work done by any
 *   worker; aggregate them with max(), not sum();
 * - kept by this process (webhook request handling, GitHub REST calls and the
 *   rate limit GitHub last reported to it): sum() across processes.
 * The exposition format is written here; it is small enough not to need a client library.
 */
export interface Metrics {
  /** One webhook request devflow handled: verified, recorded and queued (or a duplicate). */
  observeWebhook(seconds: number, outcome: "queued" | "duplicate" | "failed" | "refused"): void;
  /** One GitHub REST call, and the rate limit its response reported. */
  observeGitHubRequest(call: {
    method: string;
    status: number;
    rateLimit?: { resource: string; remaining: number; limit: number };
  }): void;
  /** The whole exposition, database-derived metrics read through `pool`. */
  render(pool: pg.Pool): Promise<string>;
}

const WEBHOOK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const PROCESSING_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const PHASE_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];

interface Histogram {
  buckets: number[];
  counts: number[];
  sum: number;
  count: number;
}

function histogram(buckets: number[]): Histogram {
  return { buckets, counts: buckets.map(() => 0), sum: 0, count: 0 };
}

function labels(values: Record<string, string | number>): string {
  const parts = Object.entries(values).map(
    ([key, value]) =>
      `${key}="${String(value).replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`,
  );
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

function withLabel(base: Record<string, string | number>, key: string, value: string): string {
  return labels({ ...base, [key]: value });
}

class Exposition {
  private readonly lines: string[] = [];

  family(name: string, type: "counter" | "gauge" | "histogram", help: string): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    return this;
  }

  sample(name: string, value: number, labelValues: Record<string, string | number> = {}): this {
    this.lines.push(`${name}${labels(labelValues)} ${Number.isFinite(value) ? value : 0}`);
    return this;
  }

  /** Cumulative buckets from per-bucket counts (`counts[i]`: observations <= buckets[i]). */
  histogram(
    name: string,
    value: { buckets: number[]; cumulative: number[]; sum: number; count: number },
    labelValues: Record<string, string | number> = {},
  ): this {
    value.buckets.forEach((bound, index) => {
      this.lines.push(
        `${name}_bucket${withLabel(labelValues, "le", String(bound))} ${value.cumulative[index] ?? 0}`,
      );
    });
    this.lines.push(`${name}_bucket${withLabel(labelValues, "le", "+Inf")} ${value.count}`);
    this.lines.push(`${name}_sum${labels(labelValues)} ${value.sum}`);
    this.lines.push(`${name}_count${labels(labelValues)} ${value.count}`);
    return this;
  }

  /** A histogram family with one series per row of a histogramQuery. */
  databaseHistogram(
    name: string,
    help: string,
    { buckets, rows, label }: { buckets: number[]; rows: HistogramRow[]; label: string },
  ): this {
    this.family(name, "histogram", help);
    for (const row of rows)
      this.histogram(name, fromRow(buckets, row), { [label]: String(row.label) });
    return this;
  }

  text(): string {
    return `${this.lines.join("\n")}\n`;
  }
}

/** A histogram of `seconds` over the rows of `from`, one series per `label`, in SQL. */
function histogramQuery(buckets: number[], seconds: string, label: string, from: string): string {
  const columns = buckets.map(
    (bound, index) => `count(*) filter (where ${seconds} <= ${bound}) as b${index}`,
  );
  return `select ${label} as label, ${columns.join(", ")}, count(*) as n, coalesce(sum(${seconds}), 0) as s ${from} group by 1 order by 1`;
}

type HistogramRow = Record<string, string | number | null>;

function fromRow(buckets: number[], row: HistogramRow) {
  return {
    buckets,
    cumulative: buckets.map((_, index) => Number(row[`b${index}`] ?? 0)),
    count: Number(row.n ?? 0),
    sum: Number(row.s ?? 0),
  };
}

/** A fresh set of metrics for this process. */
export function createMetrics(): Metrics {
  const webhook = new Map<string, Histogram>();
  const calls = new Map<string, { method: string; status: string; n: number }>();
  const rateLimits = new Map<string, { remaining: number; limit: number }>();

  return {
    observeWebhook(seconds, outcome) {
      let series = webhook.get(outcome);
      if (series === undefined) {
        series = histogram(WEBHOOK_BUCKETS);
        webhook.set(outcome, series);
      }
      series.buckets.forEach((bound, index) => {
        if (seconds <= bound) series.counts[index] = (series.counts[index] ?? 0) + 1;
      });
      series.sum += seconds;
      series.count += 1;
    },

    observeGitHubRequest({ method, status, rateLimit }) {
      const key = `${method} ${status}`;
      const entry = calls.get(key) ?? { method, status: String(status), n: 0 };
      entry.n += 1;
      calls.set(key, entry);
      if (rateLimit !== undefined) {
        rateLimits.set(rateLimit.resource, {
          remaining: rateLimit.remaining,
          limit: rateLimit.limit,
        });
      }
    },

    async render(pool) {
      const out = new Exposition();
      const [runRows, phaseRows, queueRows, deliveryRows, failureRows] = await Promise.all([
        pool.query<{ state: string; n: string }>(
          "select state, count(*) as n from runs group by state",
        ),
        pool.query<HistogramRow>(
          histogramQuery(
            PHASE_BUCKETS,
            "extract(epoch from ended_at - started_at)",
            "state",
            "from phase_attempts where ended_at is not null",
          ),
        ),
        pool
          .query<{
            name: string;
            waiting: string;
            active: string;
            failed: string;
            oldest: string | null;
          }>(
            `select name,
               count(*) filter (where state in ('created', 'retry') and start_after <= now()) as waiting,
               count(*) filter (where state = 'active') as active,
               count(*) filter (where state = 'failed') as failed,
               extract(epoch from now() - min(created_on) filter (where state in ('created', 'retry') and start_after <= now())) as oldest
             from pgboss.job group by name order by name`,
          )
          .catch(() => ({ rows: [] })),
        pool.query<HistogramRow>(
          histogramQuery(
            PROCESSING_BUCKETS,
            "extract(epoch from processed_at - received_at)",
            "event",
            "from webhook_deliveries where processed_at is not null",
          ),
        ),
        pool.query<{ category: string; n: string }>(
          "select failure->>'category' as category, count(*) as n from phase_attempts where failure is not null group by 1",
        ),
      ]);

      out.family("devflow_runs", "gauge", "Runs by state (from the database).");
      const byState = new Map(runRows.rows.map((row) => [row.state, Number(row.n)]));
      for (const state of RUN_STATES)
        out.sample("devflow_runs", byState.get(state) ?? 0, { state });

      out.databaseHistogram(
        "devflow_phase_attempt_duration_seconds",
        "How long finished phase attempts took, agent and validation included, by how they ended (from the database).",
        { buckets: PHASE_BUCKETS, rows: phaseRows.rows, label: "outcome" },
      );

      out.family(
        "devflow_queue_jobs",
        "gauge",
        "Jobs per queue that are ready and waiting, or running.",
      );
      // Every devflow queue has a series, a queue with no jobs at all included.
      const queues = new Map(queueRows.rows.map((row) => [row.name, row]));
      const names = [...new Set([...Object.values(QUEUES), ...queues.keys()])].sort();
      for (const name of names) {
        const row = queues.get(name);
        out.sample("devflow_queue_jobs", Number(row?.waiting ?? 0), {
          queue: name,
          state: "waiting",
        });
        out.sample("devflow_queue_jobs", Number(row?.active ?? 0), {
          queue: name,
          state: "active",
        });
      }
      out.family(
        "devflow_failed_jobs",
        "gauge",
        "Jobs per queue that failed every retry and were not retried: stopped work (devflow jobs failed).",
      );
      for (const name of names) {
        if (name === QUEUES.deadLetter) continue;
        out.sample("devflow_failed_jobs", Number(queues.get(name)?.failed ?? 0), { queue: name });
      }
      out.family(
        "devflow_queue_oldest_waiting_seconds",
        "gauge",
        "Age of the oldest job per queue that is ready and not yet picked up (0: none waiting).",
      );
      for (const name of names) {
        out.sample("devflow_queue_oldest_waiting_seconds", Number(queues.get(name)?.oldest ?? 0), {
          queue: name,
        });
      }

      out.family(
        "devflow_webhook_request_seconds",
        "histogram",
        "Recording and queueing one verified webhook delivery in this process (the request's work after the signature check), by outcome.",
      );
      for (const [outcome, series] of webhook) {
        // observeWebhook counts an observation in every bucket it fits: already cumulative.
        out.histogram(
          "devflow_webhook_request_seconds",
          {
            buckets: series.buckets,
            cumulative: series.counts,
            sum: series.sum,
            count: series.count,
          },
          { outcome },
        );
      }
      out.databaseHistogram(
        "devflow_webhook_processing_seconds",
        "From a delivery's arrival to the end of its processing job, by event (from the database).",
        { buckets: PROCESSING_BUCKETS, rows: deliveryRows.rows, label: "event" },
      );

      out.family(
        "devflow_github_requests_total",
        "counter",
        "GitHub REST calls made by this process.",
      );
      for (const entry of calls.values()) {
        out.sample("devflow_github_requests_total", entry.n, {
          method: entry.method,
          status: entry.status,
        });
      }
      out.family(
        "devflow_github_rate_limit_remaining",
        "gauge",
        "Requests left in the rate-limit window GitHub last reported to this process, by resource.",
      );
      for (const [resource, limit] of rateLimits) {
        out.sample("devflow_github_rate_limit_remaining", limit.remaining, { resource });
      }
      out.family(
        "devflow_github_rate_limit",
        "gauge",
        "The rate limit GitHub last reported, by resource.",
      );
      for (const [resource, limit] of rateLimits) {
        out.sample("devflow_github_rate_limit", limit.limit, { resource });
      }

      out.family(
        "devflow_runner_failures_total",
        "counter",
        "Failed phase attempts by failure category (from the database).",
      );
      const byCategory = new Map(failureRows.rows.map((row) => [row.category, Number(row.n)]));
      for (const category of new Set([...FAILURE_CATEGORIES, ...byCategory.keys()])) {
        out.sample("devflow_runner_failures_total", byCategory.get(category) ?? 0, { category });
      }
      return out.text();
    },
  };
}
