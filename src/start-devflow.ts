import { PgBoss } from "pg-boss";
import type { Logger } from "pino";
import {
  ensureQueues,
  type JobSettings,
  registerWorkers,
  SUPERVISE_INTERVAL_SECONDS,
  type WorkerDeps,
} from "../jobs/index.ts";
import { createDatabase, type Database } from "./db/client.ts";
import { listenForNotifications } from "./db/listen-for-notifications.ts";
import { migrateDatabase } from "./db/migrate.ts";
import { createEngine, type Engine } from "./engine/create-engine.ts";
import { QUEUES } from "./engine/outbox.ts";
import type { EngineLimits } from "./engine/types.ts";
import { startDeliveryDispatcher } from "./github/dispatch-deliveries.ts";
import type { GitHubAccess } from "./github/github-access.ts";
import { createLogger } from "./log.ts";
import { loadRegistry } from "./registry/load-registry.ts";
import { storeRegistry } from "./registry/store-registry.ts";
import type { Registry } from "./registry/types.ts";
import type { Runner } from "./runner/runner.ts";
import { createSecrets, type Secrets } from "./security/secrets.ts";

/** How often the delivery reconciler asks GitHub what it could not deliver. */
const RECONCILE_INTERVAL_SECONDS = 300;

/** The part of a graceful stop kept for handing running attempts back (at most half of it). */
const HAND_BACK_MS = 10_000;

export interface StartDevflowOptions {
  databaseUrl: string;
  limits: EngineLimits;
  jobs: JobSettings;
  /** Run job workers in this process (false: enqueue only, as a webhook-only server would). */
  workers: boolean;
  runner: Runner;
  /** Git checkouts for runs with a repository, scratch directories for the rest. */
  workspaces: WorkerDeps["workspaces"];
  /** Where each execution keeps its prompt, schema and transcript. */
  executionsDir: string;
  /** GitHub as the app: enables processing of webhook deliveries. */
  github?: GitHubAccess;
  /** The values devflow never pushes or publishes (none known: only token shapes are looked for). */
  secrets?: Secrets;
  log?: Logger;
  registry?: Registry;
  /** Connections this process may hold; pg-boss takes its own on top. */
  poolSize?: number;
}

export interface Devflow {
  database: Database;
  boss: PgBoss;
  engine: Engine;
  registry: Registry;
  log: Logger;
  /** Queues the deliveries the webhook endpoint recorded, now (it also polls). */
  dispatchDeliveries(): void;
  /**
   * Stops taking work and lets running handlers finish; past `timeoutMs` less 10 s
   * (or half of it) running agents are stopped and their phases handed back as new
   * attempts. Then closes the pool.
   */
  stop(options?: { graceful?: boolean; timeoutMs?: number }): Promise<void>;
}

/**
 * Brings devflow up against one database: migrations, registry, pg-boss (with
 * LISTEN/NOTIFY so jobs wake at once), the engine and, when asked, the workers
 * and the periodic sweep. The CLI, the tests and the benchmarks all start here.
 */
export async function startDevflow(options: StartDevflowOptions): Promise<Devflow> {
  const log = options.log ?? createLogger({ level: "info", role: "devflow" });
  const database = createDatabase({ url: options.databaseUrl, max: options.poolSize ?? 10 });
  await migrateDatabase({ db: database.db });
  const registry = options.registry ?? loadRegistry();
  await storeRegistry({ db: database.db, registry });
  const boss = new PgBoss({
    connectionString: options.databaseUrl,
    useListenNotify: true,
    max: 6,
    // Lapsed job heartbeats are found within seconds, not the default minute.
    superviseIntervalSeconds: SUPERVISE_INTERVAL_SECONDS,
    monitorIntervalSeconds: SUPERVISE_INTERVAL_SECONDS,
  });
  boss.on("error", (error: unknown) => log.error({ err: error }, "pg-boss error"));
  // pg-boss's own listening connection drops its 'error' listener before it ends it,
  // and a server terminating it right then (a stop, pg_terminate_backend) crashed
  // devflow; this one keeps its listener until the connection is closed.
  boss.getDb().listen = (channel, onNotification, onReconnect) =>
    listenForNotifications({
      url: options.databaseUrl,
      channel,
      onNotification,
      onSubscribed: onReconnect,
      onLost: (error) =>
        log.warn({ err: error }, "lost the job notifications' connection: making another"),
    });
  await boss.start();
  await ensureQueues(boss, options.jobs);
  // Deliveries the webhook endpoint recorded go onto the processing queue from here.
  const dispatcher = await startDeliveryDispatcher({
    db: database.db,
    boss,
    log,
  });
  const engine = createEngine({ db: database.db, boss, registry, limits: options.limits, log });
  let sweepTimer: NodeJS.Timeout | undefined;
  let reconcileTimer: NodeJS.Timeout | undefined;
  const shutdown = new AbortController();
  if (options.workers) {
    await registerWorkers({
      boss,
      engine,
      runner: options.runner,
      registry,
      log,
      settings: options.jobs,
      workspaces: options.workspaces,
      executionsDir: options.executionsDir,
      secrets: options.secrets ?? createSecrets(),
      github: options.github,
      shutdown: shutdown.signal,
    });
    const interval = options.jobs.sweepIntervalSeconds;
    // Every worker host reaps its own leftovers: agent containers or processes of
    // executions that are over (their worker died, or a stop did not take).
    const reap = async () => {
      const reaped = (await options.runner.reap?.((ids) => engine.executionsOver(ids))) ?? [];
      if (reaped.length > 0)
        log.warn({ executionIds: reaped }, "reaped agents of executions that are over");
    };
    const sweep = () =>
      reap()
        .catch((error: unknown) => log.warn({ err: error }, "could not reap finished agents"))
        .then(() =>
          boss
            .send(
              QUEUES.sweep,
              { reason: "interval" },
              { singletonKey: "sweep", singletonSeconds: interval },
            )
            .catch((error: unknown) => log.warn({ err: error }, "could not enqueue the sweep")),
        );
    // GitHub never redelivers on its own: where webhooks are processed, what it could
    // not deliver is asked for again at start and at every sweep interval.
    const reconcile = () =>
      options.github === undefined
        ? Promise.resolve()
        : boss
            .send(
              QUEUES.reconcileDeliveries,
              { reason: "interval" },
              { singletonKey: "reconcile", singletonSeconds: RECONCILE_INTERVAL_SECONDS },
            )
            .then(() => undefined)
            .catch((error: unknown) =>
              log.warn({ err: error }, "could not enqueue the delivery reconciler"),
            );
    await sweep();
    await reconcile();
    sweepTimer = setInterval(() => {
      sweep().catch(() => {});
    }, interval * 1000);
    sweepTimer.unref();
    reconcileTimer = setInterval(() => {
      reconcile().catch(() => {});
    }, RECONCILE_INTERVAL_SECONDS * 1000);
    reconcileTimer.unref();
  }
  return {
    database,
    boss,
    engine,
    registry,
    log,
    dispatchDeliveries: () => {
      void dispatcher.dispatchNow();
    },
    async stop({ graceful = true, timeoutMs = 30_000 } = {}) {
      if (sweepTimer !== undefined) clearInterval(sweepTimer);
      if (reconcileTimer !== undefined) clearInterval(reconcileTimer);
      // Running attempts get most of the time to finish; then their agents are stopped
      // and their phases handed back as new attempts, before pg-boss gives up on the jobs.
      const handBack = setTimeout(
        () => shutdown.abort(),
        graceful ? Math.max(timeoutMs - HAND_BACK_MS, timeoutMs / 2) : 0,
      );
      try {
        await dispatcher.stop();
        await boss.stop({ graceful, timeout: timeoutMs });
      } finally {
        clearTimeout(handBack);
        // Closed even when pg-boss could not stop cleanly (its database gone, say).
        await database.close();
      }
    },
  };
}
