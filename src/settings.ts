import { isAbsolute, resolve } from "node:path";
import { type EgressRule, parseEgressRule } from "./security/egress-policy.ts";
import {
  type CommitLimits,
  DEFAULT_COMMIT_LIMITS,
  DEFAULT_SANDBOX_LIMITS,
  type SandboxLimits,
} from "./security/execution-limits.ts";

export const RUNNER_BACKENDS = ["process", "docker", "in-process"] as const;
export type RunnerBackend = (typeof RUNNER_BACKENDS)[number];

/** devflow's settings, read from the environment once, in one pure function. */
export interface Settings {
  /** `undefined` means: start an embedded PostgreSQL under `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** Unset: the port remembered in the data dir, else 54329, else a free one. */
  embeddedPostgresPort: number | undefined;
  port: number;
  /** The address the HTTP server listens on (HOST); every interface when unset. */
  host: string | undefined;
  logLevel: string;
  github: {
    appId: number | undefined;
    /** The app's private key (PEM), from PRIVATE_KEY; PRIVATE_KEY_PATH names a file instead. */
    privateKey: string | undefined;
    privateKeyPath: string | undefined;
    webhookSecret: string | undefined;
    /** REST base URL: api.github.com, or `<GHE_PROTOCOL>://<GHE_HOST>/api/v3`. */
    baseUrl: string;
    /** The app's OAuth client id and secret (GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET): console sign-in. */
    clientId: string | undefined;
    clientSecret: string | undefined;
  };
  /**
   * devflow's public address (DEVFLOW_PUBLIC_URL), e.g. https://devflow.example.com:
   * check runs and the status comment link to the console there, and it is the
   * base of the sign-in callback URL. No trailing slash.
   */
  publicUrl: string | undefined;
  /** What seals console sessions (DEVFLOW_CONSOLE_SECRET); derived from the app's private key when unset. */
  consoleSecret: string | undefined;
  runner: RunnerBackend;
  /**
   * How the process runner isolates agents: `bubblewrap`, or `none` only when the
   * operator set DEVFLOW_INSECURE_NO_SANDBOX (agents can then read devflow's secrets).
   */
  sandbox: "bubblewrap" | "none";
  /** Host paths every sandbox shows read-only (DEVFLOW_SANDBOX_READ_ONLY). */
  sandboxReadOnly: string[];
  /** Each process sandbox's processes, memory and /tmp (DEVFLOW_SANDBOX_PIDS, _MEMORY_MB, _TMP_MB). */
  sandboxLimits: SandboxLimits;
  /** A delegated cgroup v2 group for executions' own groups (DEVFLOW_SANDBOX_CGROUP). */
  sandboxCgroup: string | undefined;
  /** Where agents may connect beyond their model API (DEVFLOW_EGRESS_ALLOW). */
  egressAllow: EgressRule[];
  /** What devflow keeps of one execution's output, in bytes (DEVFLOW_TRANSCRIPT_MAX_MB); the rest is counted in a note. */
  transcriptMaxBytes: number;
  docker: {
    image: string;
    network: string;
    cpus: number;
    memoryMb: number;
    pids: number;
    /** The Docker Engine socket, from DOCKER_HOST (unix://…); the default socket when absent. */
    socketPath: string | undefined;
  };
  agent: string | undefined;
  agentModel: string | undefined;
  agentCommand: string | undefined;
  /** Host variables the `command` agent gets (its model key), by name: DEVFLOW_AGENT_COMMAND_ENV. */
  agentCommandEnv: string[];
  /** What agents may cost one run, in US dollars; undefined: no limit. */
  maxCostUsdPerRun: number | undefined;
  /** What one attempt's commit may hold: DEVFLOW_MAX_COMMIT_FILES files, DEVFLOW_MAX_COMMIT_MB MiB. */
  commitLimits: CommitLimits;
  maxActiveRuns: number;
  maxActiveRunsPerRepository: number;
  /** How many phase jobs one process runs at once; 0: none here (a server that leaves agents to workers). */
  workerConcurrency: number;
  /** How often a running execution proves it is alive, and when the sweep calls it dead. */
  heartbeatMs: number;
  staleAfterMs: number;
  sweepIntervalSeconds: number;
  attemptTimeoutSeconds: number;
  /** How long a stopping process lets running jobs finish before handing attempts back. */
  stopGraceSeconds: number;
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
  const value = raw === undefined || raw === "" ? "process" : raw;
  if ((RUNNER_BACKENDS as readonly string[]).includes(value)) return value as RunnerBackend;
  throw new Error(`DEVFLOW_RUNNER must be one of ${RUNNER_BACKENDS.join(", ")}; got "${value}"`);
}

function positive(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number | undefined,
): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
}

function egressRules(raw: string | undefined): EgressRule[] {
  const entries = (raw ?? "").split(/[\s,]+/).filter((entry) => entry !== "");
  return entries.map((entry) => {
    try {
      return parseEgressRule(entry, true);
    } catch (error) {
      throw new Error(`DEVFLOW_EGRESS_ALLOW: ${(error as Error).message}`);
    }
  });
}

function absolutePaths(name: string, raw: string | undefined): string[] {
  const paths = (raw ?? "").split(/[:,]/).filter((path) => path !== "");
  for (const path of paths) {
    if (!isAbsolute(path)) throw new Error(`${name} must list absolute paths, got "${path}"`);
  }
  return paths;
}

function flag(name: string, raw: string | undefined): boolean {
  if (raw === undefined || raw === "" || raw === "0" || raw === "false") return false;
  if (raw === "1" || raw === "true") return true;
  throw new Error(`${name} must be 1 or true (or unset), got "${raw}"`);
}

function optional(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

function publicUrl(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === "") return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(
      `DEVFLOW_PUBLIC_URL must be a URL such as https://devflow.example.com, got "${raw}"`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new Error(`DEVFLOW_PUBLIC_URL must be an http(s) URL, got "${raw}"`);
  if (url.search !== "" || url.hash !== "")
    throw new Error(`DEVFLOW_PUBLIC_URL must not have a query or fragment, got "${raw}"`);
  return `${url.origin}${url.pathname}`.replace(/\/+$/, "");
}

function consoleSecret(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === "") return undefined;
  if (raw.length < 32)
    throw new Error(
      "DEVFLOW_CONSOLE_SECRET must be at least 32 characters (e.g. openssl rand -hex 32)",
    );
  return raw;
}

function dockerSocket(host: string | undefined): string | undefined {
  if (host === undefined || host === "") return undefined;
  if (!host.startsWith("unix://"))
    throw new Error(`DOCKER_HOST must be a unix:// socket for devflow, got "${host}"`);
  return host.slice("unix://".length);
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
    embeddedPostgresPort:
      env.DEVFLOW_EMBEDDED_PG_PORT === undefined || env.DEVFLOW_EMBEDDED_PG_PORT === ""
        ? undefined
        : integer(env, "DEVFLOW_EMBEDDED_PG_PORT", 54329),
    port: integer(env, "PORT", 3000),
    host: optional(env.HOST),
    github: {
      appId: env.APP_ID === undefined || env.APP_ID === "" ? undefined : integer(env, "APP_ID", 0),
      // Environments often hold a PEM with its newlines escaped.
      privateKey: optional(env.PRIVATE_KEY)?.replaceAll("\\n", "\n"),
      privateKeyPath: optional(env.PRIVATE_KEY_PATH),
      webhookSecret: optional(env.WEBHOOK_SECRET),
      baseUrl: env.GHE_HOST
        ? `${env.GHE_PROTOCOL || "https"}://${env.GHE_HOST}/api/v3`
        : "https://api.github.com",
      clientId: optional(env.GITHUB_CLIENT_ID),
      clientSecret: optional(env.GITHUB_CLIENT_SECRET),
    },
    publicUrl: publicUrl(env.DEVFLOW_PUBLIC_URL),
    consoleSecret: consoleSecret(env.DEVFLOW_CONSOLE_SECRET),
    logLevel: env.LOG_LEVEL ?? "info",
    runner: runnerBackend(env.DEVFLOW_RUNNER),
    sandbox: flag("DEVFLOW_INSECURE_NO_SANDBOX", env.DEVFLOW_INSECURE_NO_SANDBOX)
      ? "none"
      : "bubblewrap",
    sandboxReadOnly: absolutePaths("DEVFLOW_SANDBOX_READ_ONLY", env.DEVFLOW_SANDBOX_READ_ONLY),
    sandboxLimits: {
      pids: integer(env, "DEVFLOW_SANDBOX_PIDS", DEFAULT_SANDBOX_LIMITS.pids, 16),
      memoryMb: integer(env, "DEVFLOW_SANDBOX_MEMORY_MB", DEFAULT_SANDBOX_LIMITS.memoryMb, 64),
      tmpMb: integer(env, "DEVFLOW_SANDBOX_TMP_MB", DEFAULT_SANDBOX_LIMITS.tmpMb, 1),
    },
    sandboxCgroup: absolutePaths("DEVFLOW_SANDBOX_CGROUP", env.DEVFLOW_SANDBOX_CGROUP)[0],
    egressAllow: egressRules(env.DEVFLOW_EGRESS_ALLOW),
    transcriptMaxBytes: integer(env, "DEVFLOW_TRANSCRIPT_MAX_MB", 16) * 1024 * 1024,
    docker: {
      image: env.DEVFLOW_DOCKER_IMAGE || "devflow-runner:latest",
      network: env.DEVFLOW_DOCKER_NETWORK || "none",
      cpus: positive(env, "DEVFLOW_DOCKER_CPUS", 2) ?? 2,
      memoryMb: integer(env, "DEVFLOW_DOCKER_MEMORY_MB", 4096, 64),
      pids: integer(env, "DEVFLOW_DOCKER_PIDS", 512, 16),
      socketPath: dockerSocket(env.DOCKER_HOST),
    },
    agent: optional(env.DEVFLOW_AGENT),
    agentModel: optional(env.DEVFLOW_AGENT_MODEL),
    agentCommand: optional(env.DEVFLOW_AGENT_COMMAND),
    agentCommandEnv: (env.DEVFLOW_AGENT_COMMAND_ENV ?? "")
      .split(/[\s,]+/)
      .filter((name) => name !== ""),
    maxCostUsdPerRun: positive(env, "DEVFLOW_MAX_COST_USD_PER_RUN", undefined),
    commitLimits: {
      maxFiles: integer(env, "DEVFLOW_MAX_COMMIT_FILES", DEFAULT_COMMIT_LIMITS.maxFiles),
      maxMb: integer(env, "DEVFLOW_MAX_COMMIT_MB", DEFAULT_COMMIT_LIMITS.maxMb),
    },
    maxActiveRuns: integer(env, "DEVFLOW_MAX_ACTIVE_RUNS", 20),
    maxActiveRunsPerRepository: integer(env, "DEVFLOW_MAX_ACTIVE_RUNS_PER_REPO", 5),
    workerConcurrency: integer(env, "DEVFLOW_WORKER_CONCURRENCY", 4, 0),
    heartbeatMs: integer(env, "DEVFLOW_HEARTBEAT_MS", 10_000, 100),
    staleAfterMs: integer(env, "DEVFLOW_STALE_AFTER_MS", 60_000, 500),
    sweepIntervalSeconds: integer(env, "DEVFLOW_SWEEP_INTERVAL_SECONDS", 30),
    attemptTimeoutSeconds: integer(env, "DEVFLOW_ATTEMPT_TIMEOUT_SECONDS", 1800),
    stopGraceSeconds: integer(env, "DEVFLOW_STOP_GRACE_SECONDS", 30, 2),
  };
}
