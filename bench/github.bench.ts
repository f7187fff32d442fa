/**
 * `npm run bench:github [-- --deliveries N]`: devflow's GitHub side.
 * (a) Signed `issues.labeled` deliveries over real HTTP: deliveries per second and
 *     p50/p99 latency against devflow's webhook server (verify, record, enqueue),
 *     next to a bare Probot app with a no-op handler measured in the same run.
 * (c) REST calls for one whole development@1 run with two planned phases, driven
 *     by webhooks (label, Approve review, the gate check run's button) against a
 *     fake GitHub API (nock) and a bare git repository.
 * (b), phase result → next phase, is `npm run bench:engine`.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { eq } from "drizzle-orm";
import nock from "nock";
import pino from "pino";
import { Probot, Server } from "probot";
import { runs, webhookDeliveries } from "../src/db/schema/index.ts";
import { createGitHubAccess, gitCredentialsFrom } from "../src/github/github-access.ts";
import { createProbot, startGitHubServer } from "../src/github/start-github-server.ts";
import { createMetrics, type Metrics } from "../src/observability/metrics.ts";
import { createInProcessRunner } from "../src/runner/in-process-runner.ts";
import { createGitWorkspaces } from "../src/runner/workspaces/git-workspaces.ts";
import { createScratchWorkspaces } from "../src/runner/workspaces/scratch-workspaces.ts";
import { type Devflow, startDevflow } from "../src/start-devflow.ts";
import { fakeGitHub } from "../test/helpers/fake-github.ts";
import { createBareRemote } from "../test/helpers/git-fixtures.ts";
import {
  API,
  APP_ID,
  appPrivateKey,
  freePort,
  gateClickPayload,
  labeledPayload,
  reviewPayload,
  sendWebhook,
  WEBHOOK_SECRET,
} from "../test/helpers/github-fixtures.ts";
import { benchDatabase, ms, percentile } from "./helpers/bench-database.ts";

const argDeliveries = process.argv.indexOf("--deliveries");
const DELIVERIES = argDeliveries > 0 ? Number(process.argv[argDeliveries + 1]) : 2000;
const CONCURRENCY = 16;
const log = pino({ level: "silent" });
const scratch = (label: string) => mkdtempSync(join(tmpdir(), `devflow-bench-${label}-`));
const credentials = {
  appId: APP_ID,
  privateKey: appPrivateKey(),
  webhookSecret: WEBHOOK_SECRET,
  baseUrl: API,
};

interface Load {
  perSecond: number;
  p50: number;
  p99: number;
}

/** `count` deliveries, `concurrency` at a time; every one must be answered 200. */
async function load(
  port: number,
  payload: unknown,
  count: number,
  concurrency: number,
): Promise<Load> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next += 1;
        const sent = performance.now();
        const { status } = await sendWebhook(port, "issues", payload);
        latencies.push(performance.now() - sent);
        if (status !== 200) throw new Error(`delivery answered ${status}`);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return {
    perSecond: count / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

async function startDevflowFor(
  url: string,
  workers: boolean,
  github?: ReturnType<typeof createGitHubAccess>,
): Promise<Devflow> {
  return startDevflow({
    databaseUrl: url,
    limits: { maxActiveRuns: 1000, maxActiveRunsPerRepository: 1000 },
    jobs: {
      attemptTimeoutSeconds: 60,
      agentOptions: {},
      workerConcurrency: 4,
      heartbeatMs: 10_000,
      staleAfterMs: 60_000,
      sweepIntervalSeconds: 3600,
      defaultAgent: "scripted",
      egressAllow: [],
    },
    workers,
    runner: createInProcessRunner(),
    workspaces: {
      git: createGitWorkspaces({
        root: scratch("ws"),
        credentials:
          github === undefined ? { tokenFor: async () => undefined } : gitCredentialsFrom(github),
      }),
      scratch: createScratchWorkspaces({ root: scratch("scratch") }),
    },
    executionsDir: scratch("exec"),
    ...(github === undefined ? {} : { github }),
    log,
    poolSize: 20,
  });
}

/** devflow's webhook server on a free port, recording into `devflow`'s database. */
async function serveWebhooks(devflow: Devflow, metrics: Metrics) {
  return startGitHubServer({
    credentials,
    // Probot's Server reads port 0 as 3000: ask for a free one.
    port: await freePort(),
    host: "127.0.0.1",
    db: devflow.database.db,
    log,
    metrics,
  });
}

/** (a) devflow's webhook server against a bare Probot app with a no-op handler. */
async function webhookThroughput(url: string): Promise<void> {
  // Workers off: this measures taking deliveries in (verify, record, enqueue), which is
  // what GitHub waits for; processing them is the jobs' work, measured by (c) and bench:engine.
  const devflow = await startDevflowFor(url, false);
  const server = await serveWebhooks(devflow, createMetrics());
  const bare = new Server({
    Probot: Probot.defaults({
      appId: APP_ID,
      privateKey: credentials.privateKey,
      secret: WEBHOOK_SECRET,
      log,
    }),
    port: await freePort(),
    host: "127.0.0.1",
    log,
  });
  await bare.load((app) => {
    app.on("issues.labeled", async () => {});
  });
  await bare.start();
  const payload = labeledPayload({
    issue: 1,
    repository: "octo/bench",
    cloneUrl: "https://github.com/octo/bench.git",
  });
  try {
    // Warm-up for both, not measured.
    await load(bare.port, payload, 300, CONCURRENCY);
    await load(server.port, payload, 300, CONCURRENCY);
    const bareSolo = await load(bare.port, payload, 300, 1);
    const devflowSolo = await load(server.port, payload, 300, 1);
    const bareLoad = await load(bare.port, payload, DELIVERIES, CONCURRENCY);
    const devflowLoad = await load(server.port, payload, DELIVERIES, CONCURRENCY);
    const [recorded] = await devflow.database.db.$count(webhookDeliveries).then((n) => [n]);
    console.log(
      `(a) signed issues.labeled deliveries over HTTP (${DELIVERIES} at ${CONCURRENCY} concurrent; 300 one at a time)`,
    );
    console.log(
      `    bare Probot, no-op handler:  ${bareLoad.perSecond.toFixed(0)}/s, p50 ${ms(bareLoad.p50)}, p99 ${ms(bareLoad.p99)}; one at a time p50 ${ms(bareSolo.p50)}, p99 ${ms(bareSolo.p99)}`,
    );
    console.log(
      `    devflow (verify, record, enqueue): ${devflowLoad.perSecond.toFixed(0)}/s, p50 ${ms(devflowLoad.p50)}, p99 ${ms(devflowLoad.p99)}; one at a time p50 ${ms(devflowSolo.p50)}, p99 ${ms(devflowSolo.p99)}`,
    );
    console.log(
      `    devflow / bare: throughput ${(devflowLoad.perSecond / bareLoad.perSecond).toFixed(2)}x, p50 ${(devflowLoad.p50 / bareLoad.p50).toFixed(1)}x, p99 ${(devflowLoad.p99 / bareLoad.p99).toFixed(1)}x; one at a time p50 ${(devflowSolo.p50 / bareSolo.p50).toFixed(1)}x`,
    );
    const expected = DELIVERIES + 300 + 300;
    if (recorded !== expected) {
      console.log(`    recorded ${recorded} deliveries, expected ${expected}`);
      process.exitCode = 1;
    }
  } finally {
    await bare.stop();
    await server.stop();
    await devflow.stop({ graceful: false });
  }
}

/** (c) REST calls for one whole run, driven by webhooks. */
async function restCallsPerRun(url: string): Promise<void> {
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  const github = fakeGitHub();
  const metrics = createMetrics();
  const access = createGitHubAccess({
    probot: createProbot(credentials, log),
    appId: APP_ID,
    privateKey: credentials.privateKey,
    baseUrl: API,
    metrics,
  });
  const devflow = await startDevflowFor(url, true, access);
  const server = await serveWebhooks(devflow, metrics);
  const db = devflow.database.db;
  const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => {
    const deadline = Date.now() + 180_000;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(50);
    }
  };
  try {
    const started = performance.now();
    const repository = "octo/story";
    const body = 'Add a widget.\n<!-- devflow-scripted: {"phase_plan":"two-phases"} -->';
    const sent = await sendWebhook(
      server.port,
      "issues",
      labeledPayload({ issue: 7, repository, cloneUrl: createBareRemote(), body }),
    );
    const runId = await waitFor("the run", async () => {
      const [row] = await db
        .select()
        .from(webhookDeliveries)
        .where(eq(webhookDeliveries.id, sent.id));
      return row?.runId ?? undefined;
    });
    const pendingGate = (gateKey: string) =>
      waitFor(`gate ${gateKey}`, async () => {
        const status = await devflow.engine.getRunStatus(runId);
        return status.approvals.find(
          (approval) => approval.gateKey === gateKey && approval.state === "pending",
        );
      });
    await pendingGate("spec_approved");
    const pr = await waitFor("the pull request", async () => {
      const [row] = await db
        .select({ pr: runs.pullRequestNumber })
        .from(runs)
        .where(eq(runs.id, runId));
      return row?.pr ?? undefined;
    });
    const review = reviewPayload({
      repository,
      pullRequest: pr,
      id: 901,
      state: "approved",
      body: "Spec is right.",
      user: "bob",
    });
    await sendWebhook(server.port, "pull_request_review", review);
    const plan = await pendingGate("phase_plan_approved");
    await waitFor("the plan gate's check run", async () =>
      github.published.find(
        (entry) => entry.kind === "check" && entry.body.includes(`devflow-gate:${plan.id}`),
      ),
    );
    const click = gateClickPayload({ repository, externalId: `devflow-gate:${plan.id}` });
    await sendWebhook(server.port, "check_run", click);
    await waitFor("the run to complete", async () => {
      const status = await devflow.engine.getRunStatus(runId);
      if (status.run.state === "failed" || status.run.state === "aborted")
        throw new Error(`run ${status.run.state}`);
      return status.run.state === "completed" ? true : undefined;
    });
    await waitFor("publishing to settle", async () => {
      const jobs = await devflow.boss.findJobs("run-publish", { queued: true });
      return jobs.length === 0 && github.published.some((entry) => entry.kind === "graphql")
        ? true
        : undefined;
    });
    const seconds = (performance.now() - started) / 1000;
    const byKind = new Map<string, number>();
    for (const call of github.calls) {
      const kind = call
        .replace(/\/\d+/g, "/N")
        .replace(/^(\w+) \/repos\/[^/]+\/[^/]+/, "$1 /repos/o/r");
      byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
    }
    const exposition = await metrics.render(devflow.database.pool);
    const counted = [
      ...exposition.matchAll(/^devflow_github_requests_total\{[^}]*\} (\d+)$/gm),
    ].reduce((sum, match) => sum + Number(match[1]), 0);
    console.log(
      `(c) REST calls for one development@1 run with two planned phases, label to report: ${github.calls.length}`,
    );
    console.log(
      `    (${counted} through devflow's instrumented Octokit, the rest are installation tokens for git; ${seconds.toFixed(1)} s wall, Probot's throttling spaces writes)`,
    );
    for (const [kind, n] of [...byKind].sort((a, b) => b[1] - a[1]))
      console.log(`    ${String(n).padStart(3)}  ${kind}`);
  } finally {
    await server.stop();
    await devflow.stop({ graceful: false });
    nock.cleanAll();
    nock.enableNetConnect();
  }
}

const database = await benchDatabase("github");
try {
  console.log("devflow GitHub benchmark");
  await webhookThroughput(database.url);
} finally {
  await database.stop();
}
const second = await benchDatabase("github_run");
try {
  await restCallsPerRun(second.url);
} finally {
  await second.stop();
}
