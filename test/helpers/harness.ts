import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { and, asc, eq } from "drizzle-orm";
import pino from "pino";
import type { JobSettings } from "../../jobs/index.ts";
import type { ScenarioSpec } from "../../src/agents/scripted/scenarios.ts";
import type { EventRow } from "../../src/db/rows.ts";
import { type ApprovalAction, runEvents } from "../../src/db/schema/index.ts";
import type { RunStatus } from "../../src/engine/get-run-status.ts";
import { IMPLEMENTATION_GATE, type StartRunInput } from "../../src/engine/start-run.ts";
import type { EngineLimits } from "../../src/engine/types.ts";
import type { GitHubAccess } from "../../src/github/github-access.ts";
import { createInProcessRunner } from "../../src/runner/in-process-runner.ts";
import type { Runner } from "../../src/runner/runner.ts";
import { createGitWorkspaces } from "../../src/runner/workspaces/git-workspaces.ts";
import { createScratchWorkspaces } from "../../src/runner/workspaces/scratch-workspaces.ts";
import { type GitCredentials, noGitCredentials } from "../../src/runner/workspaces/workspaces.ts";
import type { CommitLimits } from "../../src/security/execution-limits.ts";
import type { Secrets } from "../../src/security/secrets.ts";
import { type Devflow, startDevflow } from "../../src/start-devflow.ts";
import { tempDir } from "./git-fixtures.ts";
import { createTestDatabase } from "./test-database.ts";

export interface HarnessOptions {
  runner?: Runner;
  limits?: Partial<EngineLimits>;
  jobs?: Partial<JobSettings>;
  databaseUrl?: string;
  workers?: boolean;
  /** What git workspaces get as a token (the remote itself needs none). */
  credentials?: GitCredentials;
  /** GitHub as the app: webhook deliveries get processed. */
  github?: GitHubAccess;
  /** How long waits wait by default (20 s). */
  waitTimeoutMs?: number;
  /** The values devflow protects (none by default: only token shapes are looked for). */
  secrets?: Secrets;
  /** Where workspaces and execution files go (fresh temporary directories by default). */
  roots?: { workspaces: string; executions: string };
  /** What an attempt's commit may hold (DEVFLOW_MAX_COMMIT_FILES, _MB); the defaults when not given. */
  commitLimits?: CommitLimits;
}

export type Harness = Awaited<ReturnType<typeof startHarness>>;

export const TEST_JOB_SETTINGS: JobSettings = {
  attemptTimeoutSeconds: 30,
  agentOptions: {},
  workerConcurrency: 4,
  heartbeatMs: 200,
  staleAfterMs: 60_000,
  sweepIntervalSeconds: 3600,
  defaultAgent: "scripted",
  egressAllow: [],
};

let issueCounter = 0;

/** Workspaces and execution files in temporary directories; git runs need no token. */
export function testWorkspaces(
  credentials: GitCredentials = noGitCredentials,
  roots = { workspaces: tempDir("workspaces"), executions: tempDir("executions") },
  commitLimits?: CommitLimits,
) {
  return {
    workspaces: {
      git: createGitWorkspaces({ root: roots.workspaces, credentials, commitLimits }),
      scratch: createScratchWorkspaces({ root: tempDir("scratch") }),
    },
    executionsDir: roots.executions,
  };
}

/**
 * devflow with workers and the in-process scripted runner against a fresh
 * database, plus the waits and shortcuts the engine tests share.
 */
export async function startHarness(options: HarnessOptions = {}) {
  const databaseUrl = options.databaseUrl ?? (await createTestDatabase());
  const runner = options.runner ?? createInProcessRunner();
  const places = testWorkspaces(options.credentials, options.roots, options.commitLimits);
  const devflow: Devflow = await startDevflow({
    databaseUrl,
    limits: { maxActiveRuns: 1000, maxActiveRunsPerRepository: 1000, ...options.limits },
    jobs: { ...TEST_JOB_SETTINGS, ...options.jobs },
    workers: options.workers ?? true,
    runner,
    ...places,
    ...(options.secrets === undefined ? {} : { secrets: options.secrets }),
    ...(options.github === undefined ? {} : { github: options.github }),
    log: pino({ level: process.env.DEVFLOW_TEST_LOG ?? "silent" }),
    poolSize: 20,
  });
  const { engine } = devflow;
  const db = devflow.database.db;

  async function waitFor<T>(
    what: string,
    probe: () => Promise<T | undefined | false>,
    timeoutMs = options.waitTimeoutMs ?? 20_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline)
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(15);
    }
  }

  const harness = {
    devflow,
    /** Where each execution's files are: `<executionsDir>/<execution id>/prompt.md`. */
    executionsDir: places.executionsDir,
    engine,
    db,
    databaseUrl,
    runner,
    /**
     * Starts a run for a new issue; `scenarios` are the scripted agent's per phase.
     * The engine's scenarios (the ported specification) know two gates: these runs go
     * without development@1's implementation gate unless `skipGates` says otherwise.
     */
    start(input: Partial<StartRunInput> & { scenarios?: Record<string, ScenarioSpec> } = {}) {
      issueCounter += 1;
      const { scenarios, ...rest } = input;
      return engine.startRun({
        startKey: randomUUID(),
        repository: "acme/widgets",
        issueNumber: 1000 * process.pid + issueCounter,
        issueTitle: "Add a widget",
        requirements: "Build the requested change.",
        baseBranch: "main",
        agentConfig: { scripted: scenarios ?? {} },
        skipGates: [IMPLEMENTATION_GATE],
        ...rest,
      });
    },
    status: (runId: string) => engine.getRunStatus(runId),
    /** Waits until the run's status satisfies `predicate`. */
    waitForStatus(
      runId: string,
      predicate: (status: RunStatus) => boolean,
      what = "a run status",
      timeoutMs?: number,
    ) {
      return waitFor(
        what,
        async () => {
          const status = await engine.getRunStatus(runId);
          return predicate(status) ? status : undefined;
        },
        timeoutMs,
      );
    },
    waitForState(runId: string, state: RunStatus["run"]["state"], timeoutMs?: number) {
      return harness.waitForStatus(
        runId,
        (status) => status.run.state === state,
        `run ${runId} to be ${state}`,
        timeoutMs,
      );
    },
    /** Waits until the run is at the pending gate `gateKey` and returns its request. */
    async waitForGate(runId: string, gateKey: string, timeoutMs?: number) {
      const status = await harness.waitForStatus(
        runId,
        (s) =>
          s.approvals.some(
            (approval) => approval.gateKey === gateKey && approval.state === "pending",
          ),
        `gate ${gateKey} of run ${runId}`,
        timeoutMs,
      );
      const request = status.approvals.find(
        (approval) => approval.gateKey === gateKey && approval.state === "pending",
      );
      if (request === undefined) throw new Error("unreachable");
      return request;
    },
    /** Waits for the `count`-th event of `type` and returns all of that type. */
    waitForEvents(runId: string, type: string, count = 1, timeoutMs?: number): Promise<EventRow[]> {
      return waitFor(
        `${count} ${type} event(s) of run ${runId}`,
        async () => {
          const rows = await db
            .select()
            .from(runEvents)
            .where(and(eq(runEvents.runId, runId), eq(runEvents.type, type)))
            .orderBy(asc(runEvents.seq));
          return rows.length >= count ? rows : undefined;
        },
        timeoutMs,
      );
    },
    events: (runId: string) =>
      db.select().from(runEvents).where(eq(runEvents.runId, runId)).orderBy(asc(runEvents.seq)),
    /** A person's decision at a gate; a fresh client token unless one is given. */
    decide(
      runId: string,
      approvalId: string,
      action: ApprovalAction,
      clientToken: string = randomUUID(),
    ) {
      return engine.signalApproval({ runId, approvalId, action, clientToken });
    },
    /** Approves the pending gate `gateKey` once it is there. */
    async approve(runId: string, gateKey: string, clientToken: string = randomUUID()) {
      const request = await harness.waitForGate(runId, gateKey);
      await engine.signalApproval({
        runId,
        approvalId: request.id,
        action: "approve",
        clientToken,
        actor: "reviewer",
      });
      return request;
    },
    waitFor,
    stop: (options?: { graceful?: boolean }) => devflow.stop({ timeoutMs: 5_000, ...options }),
  };
  return harness;
}
