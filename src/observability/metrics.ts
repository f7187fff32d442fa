import type pg from "pg";
import { Counter, Gauge, Histogram, type Metric, Registry } from "prom-client";
import { RUN_STATES } from "../db/schema/index.ts";
import { QUEUES } from "../engine/outbox.ts";
import { FAILURE_CATEGORIES } from "../errors.ts";

/**
 * devflow's Prometheus metrics, in a registry of this process's own (tests run
 * several devflows in one process; prom-client's global registry would mix them).
 * Two kinds:
 * - read from the database at scrape time (runs by state, phase attempt
 *   durations, queue depth and age, delivery processing time, runner failures):
 *   the same for every process, survive restarts, and count work done by any
 *   worker; aggregate them with max(), not sum();
 * - kept by this process (webhook request handling, GitHub REST calls and the
 *   rate limit GitHub last reported to it): sum() across processes.
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

/** One series of a histogram counted in SQL: cumulative counts per bucket. */
interface HistogramSeries {
  label: string;
  cumulative: number[];
  count: number;
  sum: number;
}

type HistogramRow = Record<string, string | number | null>;

/** A histogram of `seconds` over the rows of `from`, one series per `label`, in SQL. */
function histogramQuery(buckets: number[], seconds: string, label: string, from: string): string {
  const columns = buckets.map(
    (bound, index) => `count(*) filter (where ${seconds} <= ${bound}) as b${index}`,
  );
  return `select ${label} as label, ${columns.join(", ")}, count(*) as n, coalesce(sum(${seconds}), 0) as s ${from} group by 1 order by 1`;
}

function fromRow(buckets: number[], row: HistogramRow): HistogramSeries {
  return {
    label: String(row.label),
    cumulative: buckets.map((_, index) => Number(row[`b${index}`] ?? 0)),
    count: Number(row.n ?? 0),
    sum: Number(row.s ?? 0),
  };
}

interface QueueRow {
  name: string;
  waiting: string;
  active: string;
  failed: string;
  oldest: string | null;
}

/** What one scrape reads from the database, all queries at once. */
interface DatabaseSnapshot {
  runs: Map<string, number>;
  phaseAttempts: HistogramSeries[];
  queues: Map<string, QueueRow>;
  deliveries: HistogramSeries[];
  failures: Map<string, number>;
}

async function readDatabase(pool: pg.Pool): Promise<DatabaseSnapshot> {
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
      .query<QueueRow>(
        `select name,
           count(*) filter (where state in ('created', 'retry') and start_after <= now()) as waiting,
           count(*) filter (where state = 'active') as active,
           count(*) filter (where state = 'failed') as failed,
           extract(epoch from now() - min(created_on) filter (where state in ('created', 'retry') and start_after <= now())) as oldest
         from pgboss.job group by name order by name`,
      )
      // Before the queue's schema exists (first start), its metrics read as empty queues.
      .catch(() => ({ rows: [] as QueueRow[] })),
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
  return {
    runs: new Map(runRows.rows.map((row) => [row.state, Number(row.n)])),
    phaseAttempts: phaseRows.rows.map((row) => fromRow(PHASE_BUCKETS, row)),
    queues: new Map(queueRows.rows.map((row) => [row.name, row])),
    deliveries: deliveryRows.rows.map((row) => fromRow(PROCESSING_BUCKETS, row)),
    failures: new Map(failureRows.rows.map((row) => [row.category, Number(row.n)])),
  };
}

/**
 * A histogram whose buckets are counted by SQL at scrape time. prom-client's
 * Histogram only counts observations it is handed one by one, which would mean
 * reading every finished attempt or delivery on each scrape; this collector
 * gives the registry the counts the database already summed, in the shape the
 * registry reads from any metric (`get()`), `le` first as prom-client's own
 * histograms write it.
 */
function databaseHistogram({
  name,
  help,
  buckets,
  label,
  series,
}: {
  name: string;
  help: string;
  buckets: number[];
  label: string;
  series: () => HistogramSeries[];
}) {
  return {
    name,
    help,
    type: "histogram",
    aggregator: "max",
    async get() {
      const values = series().flatMap(({ label: value, cumulative, count, sum }) => [
        ...buckets.map((bound, index) => ({
          metricName: `${name}_bucket`,
          labels: { le: String(bound), [label]: value },
          value: cumulative[index] ?? 0,
        })),
        { metricName: `${name}_bucket`, labels: { le: "+Inf", [label]: value }, value: count },
        { metricName: `${name}_sum`, labels: { [label]: value }, value: sum },
        { metricName: `${name}_count`, labels: { [label]: value }, value: count },
      ]);
      return { name, help, type: "histogram", values, aggregator: "max" };
    },
    /** Nothing is kept between scrapes: the database holds the counts. */
    reset() {},
  };
}

/** A fresh set of metrics for this process. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  // Set by render() before the registry collects; every database-derived metric reads it.
  let snapshot: DatabaseSnapshot | undefined;
  const database = (): DatabaseSnapshot => {
    if (snapshot === undefined) throw new Error("database metrics read outside a scrape");
    return snapshot;
  };
  /** Every devflow queue, a queue with no jobs at all included, and any other queue pg-boss has. */
  const queueNames = () =>
    [...new Set([...Object.values(QUEUES), ...database().queues.keys()])].sort();
  const register = (collector: ReturnType<typeof databaseHistogram>) =>
    // The registry reads any object with a name and get(); its type names only its own classes.
    registry.registerMetric(collector as unknown as Metric);

  new Gauge({
    name: "devflow_runs",
    help: "Runs by state (from the database).",
    labelNames: ["state"],
    registers,
    collect() {
      this.reset();
      for (const state of RUN_STATES) this.set({ state }, database().runs.get(state) ?? 0);
    },
  });
  register(
    databaseHistogram({
      name: "devflow_phase_attempt_duration_seconds",
      help: "How long finished phase attempts took, agent and validation included, by how they ended (from the database).",
      buckets: PHASE_BUCKETS,
      label: "outcome",
      series: () => database().phaseAttempts,
    }),
  );
  new Gauge({
    name: "devflow_queue_jobs",
    help: "Jobs per queue that are ready and waiting, or running.",
    labelNames: ["queue", "state"],
    registers,
    collect() {
      this.reset();
      for (const queue of queueNames()) {
        const row = database().queues.get(queue);
        this.set({ queue, state: "waiting" }, Number(row?.waiting ?? 0));
        this.set({ queue, state: "active" }, Number(row?.active ?? 0));
      }
    },
  });
  new Gauge({
    name: "devflow_failed_jobs",
    help: "Jobs per queue that failed every retry and were not retried: stopped work (devflow jobs failed).",
    labelNames: ["queue"],
    registers,
    collect() {
      this.reset();
      for (const queue of queueNames()) {
        if (queue === QUEUES.deadLetter) continue;
        this.set({ queue }, Number(database().queues.get(queue)?.failed ?? 0));
      }
    },
  });
  new Gauge({
    name: "devflow_queue_oldest_waiting_seconds",
    help: "Age of the oldest job per queue that is ready and not yet picked up (0: none waiting).",
    labelNames: ["queue"],
    registers,
    collect() {
      this.reset();
      for (const queue of queueNames())
        this.set({ queue }, Number(database().queues.get(queue)?.oldest ?? 0));
    },
  });
  const webhook = new Histogram({
    name: "devflow_webhook_request_seconds",
    help: "Recording and queueing one verified webhook delivery in this process (the request's work after the signature check), by outcome.",
    labelNames: ["outcome"],
    buckets: WEBHOOK_BUCKETS,
    registers,
  });
  register(
    databaseHistogram({
      name: "devflow_webhook_processing_seconds",
      help: "From a delivery's arrival to the end of its processing job, by event (from the database).",
      buckets: PROCESSING_BUCKETS,
      label: "event",
      series: () => database().deliveries,
    }),
  );
  const requests = new Counter({
    name: "devflow_github_requests_total",
    help: "GitHub REST calls made by this process.",
    labelNames: ["method", "status"],
    registers,
  });
  const rateLimitRemaining = new Gauge({
    name: "devflow_github_rate_limit_remaining",
    help: "Requests left in the rate-limit window GitHub last reported to this process, by resource.",
    labelNames: ["resource"],
    registers,
  });
  const rateLimit = new Gauge({
    name: "devflow_github_rate_limit",
    help: "The rate limit GitHub last reported, by resource.",
    labelNames: ["resource"],
    registers,
  });
  new Counter({
    name: "devflow_runner_failures_total",
    help: "Failed phase attempts by failure category (from the database).",
    labelNames: ["category"],
    registers,
    collect() {
      this.reset();
      const byCategory = database().failures;
      for (const category of new Set([...FAILURE_CATEGORIES, ...byCategory.keys()]))
        this.inc({ category }, byCategory.get(category) ?? 0);
    },
  });

  return {
    observeWebhook(seconds, outcome) {
      webhook.observe({ outcome }, seconds);
    },

    observeGitHubRequest({ method, status, rateLimit: reported }) {
      requests.inc({ method, status: String(status) });
      if (reported !== undefined) {
        rateLimitRemaining.set({ resource: reported.resource }, reported.remaining);
        rateLimit.set({ resource: reported.resource }, reported.limit);
      }
    },

    async render(pool) {
      snapshot = await readDatabase(pool);
      return registry.metrics();
    },
  };
}
