/**
 * `npm run bench:github [-- --seconds N]`: devflow's GitHub side.
 * (a) Signed `issues.labeled` deliveries over real HTTP from autocannon in its own
 *     process: deliveries per second and p50/p99 latency against devflow's webhook
 *     server (verify, record, queue), next to a bare Probot app with a no-op handler
 *     and the durable limit (commit each body to PostgreSQL, as jsonb and as text),
 *     in the same run.
 * (c) REST calls for one whole development@1 run with two planned phases, driven
 *     by webhooks (label, Approve review, the gate check run's button) against a
 *     fake GitHub API (nock) and a bare git repository.
 * (b), phase result → next phase, is `npm run bench:engine`.
 */
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { eq } from "drizzle-orm";
import nock from "nock";
import pg from "pg";
import pino from "pino";
import { Probot, Server } from "probot";
import { runs, webhookDeliveries } from "../src/db/schema/index.ts";
import { QUEUES } from "../src/engine/outbox.ts";
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
  appCredentials,
  freePort,
  gateClickPayload,
  labeledPayload,
  reviewPayload,
  sendWebhook,
  WEBHOOK_SECRET,
} from "../test/helpers/github-fixtures.ts";
import { benchDatabase } from "./helpers/bench-database.ts";

const argSeconds = process.argv.indexOf("--seconds");
const SECONDS = argSeconds > 0 ? Number(process.argv[argSeconds + 1]) : 10;
const CONNECTIONS = 10;
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const log = pino({ level: "silent" });
const scratch = (label: string) => mkdtempSync(join(tmpdir(), `devflow-bench-${label}-`));
const credentials = appCredentials();

interface Load {
  perSecond: number;
  p50: number;
  p99: number;
}

const LOAD = fileURLToPath(new URL("./helpers/webhook-load.ts", import.meta.url));

/**
 * Drives `port` with signed `issues.labeled` deliveries from autocannon in its own
 * process (not this process's event loop, which serves the webhooks): `connections`
 * at a time for `seconds`, each delivery with its own id (GitHub signs the body, so
 * one signature serves them all). Every answer must be a 200.
 */
async function autocannon(
  port: number,
  bodyFile: string,
  signature: string,
  connections: number,
  seconds: number,
): Promise<Load> {
  const child = spawn(
    process.execPath,
    [LOAD, JSON.stringify({ port, bodyFile, signature, connections, seconds })],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    err += chunk.toString();
  });
  const [code] = (await once(child, "exit")) as [number];
  if (code !== 0) throw new Error(`the load generator exited with ${code}: ${err}`);
  const result = JSON.parse(out) as {
    requests: { average: number };
    latency: { p50: number; p99: number };
    non2xx: number;
    errors: number;
  };
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${result.non2xx} answers were not 2xx, ${result.errors} errors`);
  return { perSecond: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

/**
 * The durable limit: a plain Node server that commits each delivery's body to
 * PostgreSQL before it answers, and nothing else.
 */
async function startDurableServer(
  url: string,
  type = "jsonb",
): Promise<{ port: number; stop(): Promise<void> }> {
  const pool = new pg.Pool({ connectionString: url, max: 20 });
  await pool.query(
    `create table if not exists durable_deliveries_${type} (id text primary key, payload ${type} not null)`,
  );
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    await pool.query(`insert into durable_deliveries_${type} (id, payload) values ($1, $2)`, [
      req.headers["x-github-delivery"],
      Buffer.concat(chunks).toString("utf8"),
    ]);
    res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    port,
    stop: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await pool.end();
    },
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
    onRecorded: devflow.dispatchDeliveries,
  });
}

/**
 * (a) devflow's webhook server against a bare Probot app with a no-op handler and
 * the durable limit (a server that only commits each body to PostgreSQL), all
 * driven by the same external load.
 */
async function webhookThroughput(url: string): Promise<void> {
  // Workers off: this measures taking deliveries in (verify, record, queue), which is
  // what GitHub waits for; processing them is the jobs' work, measured by (c) and bench:engine.
  const devflow = await startDevflowFor(url, false);
  const server = await serveWebhooks(devflow, createMetrics());
  const durable = await startDurableServer(url, "jsonb");
  const durableText = await startDurableServer(url, "text");
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
  const body = JSON.stringify(
    labeledPayload({
      issue: 1,
      repository: "octo/bench",
      cloneUrl: "https://github.com/octo/bench.git",
    }),
  );
  const bodyFile = join(scratch("body"), "labeled.json");
  writeFileSync(bodyFile, body);
  const signature = `sha256=${createHmac("sha256", WEBHOOK_SECRET).update(body).digest("hex")}`;
  const servers = {
    bare: bare.port,
    durable: durable.port,
    durableText: durableText.port,
    devflow: server.port,
  };
  try {
    // Rounds in turn, so that a noisy neighbour or the database's checkpoints hit
    // all three alike; each server's median round counts.
    const rounds: Record<string, Load[]> = { bare: [], durable: [], durableText: [], devflow: [] };
    for (const [, port] of Object.entries(servers))
      await autocannon(port, bodyFile, signature, CONNECTIONS, 2); // warm-up, not measured
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const [name, port] of Object.entries(servers))
        rounds[name]?.push(await autocannon(port, bodyFile, signature, CONNECTIONS, SECONDS));
    }
    const median = (loads: Load[] = []) =>
      [...loads].sort((a, b) => a.perSecond - b.perSecond)[Math.floor(loads.length / 2)];
    const results = Object.fromEntries(
      Object.entries(rounds).map(([name, loads]) => [name, median(loads)]),
    );
    const line = (label: string, load: Load | undefined) =>
      `    ${label.padEnd(48)} ${load?.perSecond.toFixed(0).padStart(6)}/s, p50 ${load?.p50} ms, p99 ${load?.p99} ms`;
    console.log(
      `(a) signed issues.labeled deliveries over HTTP, each with its own id (autocannon in its own process, ${CONNECTIONS} connections; ${ROUNDS} rounds of ${SECONDS} s in turn, the median round)`,
    );
    console.log(line("bare Probot, no-op handler", results.bare));
    console.log(line("durable limit: commit each body as jsonb", results.durable));
    console.log(line("durable limit: commit each body as text", results.durableText));
    console.log(line("devflow (verify, record, queue)", results.devflow));
    const ratio = (limit: Load | undefined) =>
      `${((results.devflow?.perSecond ?? 0) / (limit?.perSecond ?? 1)).toFixed(2)}x`;
    console.log(
      `    devflow / durable limit: ${ratio(results.durableText)} of the text limit (target >= 0.8x), ${ratio(results.durable)} of the jsonb one; devflow p99 ${results.devflow?.p99} ms (target <= 20 ms; the text limit's ${results.durableText?.p99} ms)`,
    );
    // Every recorded delivery has its processing job once the dispatcher caught up.
    const recorded = await devflow.database.db.$count(webhookDeliveries);
    let jobs = 0; // deliveries in processing jobs
    for (let waited = 0; waited < 30_000 && jobs < recorded; waited += 200) {
      devflow.dispatchDeliveries();
      await sleep(200);
      const counted = await devflow.database.pool.query<{ n: number }>(
        `select coalesce(sum(jsonb_array_length(data->'deliveryIds')), 0)::int as n
         from pgboss.job where name = $1`,
        [QUEUES.processDelivery],
      );
      jobs = counted.rows[0]?.n ?? 0;
    }
    console.log(`    ${recorded} deliveries recorded, ${jobs} of them in processing jobs`);
    if (jobs !== recorded) process.exitCode = 1;
  } finally {
    await bare.stop();
    await server.stop();
    await durable.stop();
    await durableText.stop();
    await devflow.stop({ graceful: false });
  }
}

/** (c) REST calls for one whole run, driven by webhooks. */
async function restCallsPerRun(url: string): Promise<void> {
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  const github = fakeGitHub();
  // The run the budget was set for: two decisions (a review, a button). The
  // implementation's own gate adds a third decision and one write; its test says so.
  github.repoConfig = "gates:\n  implementation: false\n";
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
  // When each publication reached the fake GitHub.
  const seen: { kind: string; body: string; at: number }[] = [];
  const push = github.published.push.bind(github.published);
  github.published.push = (...entries) => {
    for (const entry of entries) seen.push({ ...entry, at: performance.now() });
    return push(...entries);
  };
  const firstSeen = (what: (entry: { kind: string; body: string }) => boolean) =>
    waitFor("a publication", async () => seen.find(what)?.at);
  /** A person who reacts in half a second. */
  const PERSON_MS = 500;
  try {
    const repository = "octo/story";
    const body = 'Add a widget.\n<!-- devflow-scripted: {"phase_plan":"two-phases"} -->';
    const labeled = labeledPayload({ issue: 7, repository, cloneUrl: createBareRemote(), body });
    const started = performance.now();
    const sent = await sendWebhook(server.port, "issues", labeled);
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
    const specShown = await firstSeen(
      (entry) => entry.kind === "check" && entry.body.includes("action_required"),
    );
    await sleep(PERSON_MS);
    const reviewed = performance.now();
    await sendWebhook(server.port, "pull_request_review", review);
    const plan = await pendingGate("phase_plan_approved");
    await waitFor("the plan gate's check run", async () =>
      github.published.find(
        (entry) => entry.kind === "check" && entry.body.includes(`devflow-gate:${plan.id}`),
      ),
    );
    const planShown = await firstSeen((entry) => entry.body.includes(`devflow-gate:${plan.id}`));
    await sleep(PERSON_MS);
    const clicked = performance.now();
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
    const ready = await firstSeen((entry) => entry.kind === "graphql");
    const after = (from: number, at: number) => `${((at - from) / 1000).toFixed(2)} s`;
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
      `    (${counted} through devflow's instrumented Octokit, the rest are installation tokens for git; ${seconds.toFixed(1)} s wall; devflow paces writes: a burst of 5, then one a second)`,
    );
    for (const [kind, n] of [...byKind].sort((a, b) => b[1] - a[1]))
      console.log(`    ${String(n).padStart(3)}  ${kind}`);
    if (process.env.DEVFLOW_BENCH_TRACE) {
      const [label] = await db
        .select()
        .from(webhookDeliveries)
        .where(eq(webhookDeliveries.id, sent.id));
      const [run] = await db.select().from(runs).where(eq(runs.id, runId));
      console.log(
        `      label delivery: recorded at ${label?.receivedAt.toISOString()}, run created ${run?.createdAt.toISOString()}, processed ${label?.processedAt?.toISOString()}; bench start ${new Date(performance.timeOrigin + started).toISOString()}`,
      );
    }
    if (process.env.DEVFLOW_BENCH_TRACE) {
      const events = await devflow.database.pool.query<{ type: string; at: Date }>(
        "select type, created_at as at from run_events where run_id = $1 order by seq",
        [runId],
      );
      const origin = performance.timeOrigin + started;
      for (const event of events.rows.slice(0, 12))
        console.log(
          `      ${((event.at.getTime() - origin) / 1000).toFixed(2)} s  event ${event.type}`,
        );
    }
    if (process.env.DEVFLOW_BENCH_TRACE)
      for (const entry of seen)
        console.log(
          `      ${((entry.at - started) / 1000).toFixed(2)} s  ${entry.kind} ${entry.body.slice(0, 60)}`,
        );
    const writes = github.calls.filter(
      (call) => !call.startsWith("GET ") && !call.includes("/access_tokens"),
    ).length;
    console.log(
      `    requests per run ${github.calls.length} (target <= 20), writes ${writes} (target <= 14)`,
    );
    console.log(
      `(c) feedback, with a person who answers each gate ${PERSON_MS} ms after it shows (the agent answers at once):`,
    );
    console.log(
      `    label -> reaction ${after(started, await firstSeen((e) => e.kind === "reaction"))} (target <= 0.5 s), draft PR ${after(started, await firstSeen((e) => e.kind === "pull"))} (<= 2 s), first check ${after(started, await firstSeen((e) => e.kind === "check"))}, spec gate shown ${after(started, specShown)}`,
    );
    console.log(
      `    Approve review -> plan gate shown ${after(reviewed, planShown)}; button -> completed, ready for review ${after(clicked, ready)}; whole run ${seconds.toFixed(1)} s`,
    );
  } finally {
    await server.stop();
    await devflow.stop({ graceful: false });
    nock.cleanAll();
    nock.enableNetConnect();
  }
}

// `--only intake` runs (a) alone, `--only run` the whole run (b, c).
const argOnly = process.argv.indexOf("--only");
const only = argOnly > 0 ? process.argv[argOnly + 1] : undefined;
console.log("devflow GitHub benchmark");
if (only !== "run") {
  const database = await benchDatabase("github");
  try {
    await webhookThroughput(database.url);
  } finally {
    await database.stop();
  }
}
if (only !== "intake") {
  const second = await benchDatabase("github_run");
  try {
    await restCallsPerRun(second.url);
  } finally {
    await second.stop();
  }
}
