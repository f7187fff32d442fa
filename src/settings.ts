import { resolve } from "node:path";

/** Runner backends this build has. `process` and `docker` come with the runner work. */
export type RunnerBackend = "in-process";

/** devflow's settings, read from the environment once, in one pure function. */
export interface Settings {
  /** `undefined` means: start an embedded PostgreSQL under `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  embeddedPostgresPort: number;
  port: number;
  logLevel: string;
  runner: RunnerBackend;
  agent: string | undefined;
  maxActiveRuns: number;
  maxActiveRunsPerRepository: number;
  /** How many phase jobs one worker process runs at once. */
  workerConcurrency: number;
  /** How often a running execution proves it is alive, and when the sweep calls it dead. */
  heartbeatMs: number;
  staleAfterMs: number;
  sweepIntervalSeconds: number;
  attemptTimeoutSeconds: number;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 1): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  }
  return value;
}

function runnerBackend(raw: string | undefined): RunnerBackend {
  const value = raw === undefined || raw === "" ? "in-process" : raw;
  if (value === "in-process") return value;
  throw new Error(
    `DEVFLOW_RUNNER=${value} is not available in this version of devflow; the only runner is in-process (scripted agent)`,
  );
}

/**
 * Reads every setting devflow has from `env`. Pure: the same env gives the same settings.
 *
 * @example
 * const settings = readSettings({ DATABASE_URL: "postgres://localhost/devflow" });
 */
export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const databaseUrl = env.DATABASE_URL === "" ? undefined : env.DATABASE_URL;
  return {
    databaseUrl,
    dataDir: resolve(env.DEVFLOW_DATA_DIR ?? ".data"),
    embeddedPostgresPort: integer(env, "DEVFLOW_EMBEDDED_PG_PORT", 54329),
    port: integer(env, "PORT", 3000),
    logLevel: env.LOG_LEVEL ?? "info",
    runner: runnerBackend(env.DEVFLOW_RUNNER),
    agent: env.DEVFLOW_AGENT === "" ? undefined : env.DEVFLOW_AGENT,
    maxActiveRuns: integer(env, "DEVFLOW_MAX_ACTIVE_RUNS", 20),
    maxActiveRunsPerRepository: integer(env, "DEVFLOW_MAX_ACTIVE_RUNS_PER_REPO", 5),
    workerConcurrency: integer(env, "DEVFLOW_WORKER_CONCURRENCY", 4),
    heartbeatMs: integer(env, "DEVFLOW_HEARTBEAT_MS", 10_000, 100),
    staleAfterMs: integer(env, "DEVFLOW_STALE_AFTER_MS", 60_000, 500),
    sweepIntervalSeconds: integer(env, "DEVFLOW_SWEEP_INTERVAL_SECONDS", 30),
    attemptTimeoutSeconds: integer(env, "DEVFLOW_ATTEMPT_TIMEOUT_SECONDS", 1800),
  };
}
