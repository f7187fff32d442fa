/**
 * `npm run bench:engine [-- --runs N]`: drives N development@1 runs (each with two
 * planned phases) through every gate with the instant scripted agent, and prints
 * transitions per second and the time from a phase's result to the next phase's
 * agent starting, next to a baseline measured in the same run: a bare pg-boss
 * send → handler round trip on the same database.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { and, eq, inArray } from "drizzle-orm";
import { PgBoss } from "pg-boss";
import pino from "pino";
import { approvalRequests, runEvents, runs } from "../src/db/schema/index.ts";
import { createInProcessRunner } from "../src/runner/in-process-runner.ts";
import { createGitWorkspaces } from "../src/runner/workspaces/git-workspaces.ts";
import { createScratchWorkspaces } from "../src/runner/workspaces/scratch-workspaces.ts";
import { noGitCredentials } from "../src/runner/workspaces/workspaces.ts";
import { startDevflow } from "../src/start-devflow.ts";
import { benchDatabase, ms, percentile } from "./helpers/bench-database.ts";

const argRuns = process.argv.indexOf("--runs");
const RUNS = argRuns > 0 ? Number(process.argv[argRuns + 1]) : 30;

async function baseline(url: string, samples: number): Promise<number[]> {
  const boss = new PgBoss({
    connectionString: url,
    useListenNotify: true,
    schema: "bench_baseline",
  });
  await boss.start();
  await boss.createQueue("baseline", { notify: true });
  const latencies: number[] = [];
  let sentAt = 0;
  let done: () => void = () => {};
  await boss.work("baseline", { notifyPollingIntervalSeconds: 30 }, async () => {
    latencies.push(performance.now() - sentAt);
    done();
  });
  await sleep(300);
  for (let i = 0; i < samples; i += 1) {
    const handled = new Promise<void>((resolve) => {
      done = resolve;
    });
    sentAt = performance.now();
    await boss.send("baseline", { i });
    await handled;
  }
  await boss.stop({ graceful: false });
  return latencies;
}

const db0 = await benchDatabase("engine");
try {
  const baselineLatencies = await baseline(db0.url, 200);
  const devflow = await startDevflow({
    databaseUrl: db0.url,
    limits: { maxActiveRuns: 1000, maxActiveRunsPerRepository: 1000 },
    jobs: {
      attemptTimeoutSeconds: 60,
      agentOptions: {},
      workerConcurrency: 8,
      heartbeatMs: 10_000,
      staleAfterMs: 60_000,
      sweepIntervalSeconds: 3600,
      defaultAgent: "scripted",
      egressAllow: [],
    },
    workers: true,
    runner: createInProcessRunner(),
    workspaces: {
      git: createGitWorkspaces({
        root: mkdtempSync(join(tmpdir(), "devflow-bench-ws-")),
        credentials: noGitCredentials,
      }),
      scratch: createScratchWorkspaces({
        root: mkdtempSync(join(tmpdir(), "devflow-bench-scratch-")),
      }),
    },
    executionsDir: mkdtempSync(join(tmpdir(), "devflow-bench-exec-")),
    log: pino({ level: "warn" }),
    poolSize: 20,
  });
  // Stopped on a failure too: workers left running would outlive the database.
  try {
    const { engine } = devflow;
    const db = devflow.database.db;

    /** Drives `count` runs at once through every gate; returns their ids and the wall time. */
    async function drive(
      count: number,
      label: string,
    ): Promise<{ ids: string[]; seconds: number }> {
      const started = performance.now();
      const ids: string[] = [];
      for (let i = 0; i < count; i += 1) {
        const { runId } = await engine.startRun({
          startKey: `${label}-${i}`,
          repository: `bench/repo-${i % 10}`,
          issueNumber:
            ids.length + 1 + (label === "load" ? 100_000 : 0) + Math.floor(Math.random() * 1e6),
          issueTitle: `Benchmark run ${i}`,
          requirements: "Drive the workflow.",
          baseBranch: "main",
          agentConfig: { scripted: { phase_plan: "two-phases" } },
        });
        ids.push(runId);
      }
      // The approver approves every pending gate as soon as it sees it, each decision
      // with its own token, as each review or click of a person has its own id: the
      // engine reads a token that already decided one gate of the run, given again at
      // the next, as meant for the gate it decided (approval_stale).
      for (;;) {
        const pending = await db
          .select({ id: approvalRequests.id, runId: approvalRequests.runId })
          .from(approvalRequests)
          .where(and(eq(approvalRequests.state, "pending"), inArray(approvalRequests.runId, ids)));
        await Promise.all(
          pending.map((request) =>
            engine.signalApproval({
              runId: request.runId,
              approvalId: request.id,
              action: "approve",
              clientToken: `bench:${request.id}`,
            }),
          ),
        );
        const open = await db
          .select({ id: runs.id })
          .from(runs)
          .where(
            and(
              inArray(runs.id, ids),
              inArray(runs.state, ["queued", "planning", "executing", "awaiting_approval"]),
            ),
          );
        if (open.length === 0) break;
        await sleep(2);
      }
      return { ids, seconds: (performance.now() - started) / 1000 };
    }

    /** From a phase's result (its phase.completed, written with the approval or the result) to the next phase's agent starting. */
    async function handoffs(ids: string[]): Promise<number[]> {
      const events = await db.select().from(runEvents).where(inArray(runEvents.runId, ids));
      const byRun = new Map<string, typeof events>();
      for (const event of events)
        byRun.set(event.runId, [...(byRun.get(event.runId) ?? []), event]);
      const gaps: number[] = [];
      for (const list of byRun.values()) {
        list.sort((a, b) => a.seq - b.seq);
        let resultAt: number | null = null;
        for (const event of list) {
          if (event.type === "phase.completed") resultAt = event.createdAt.getTime();
          if (event.type === "execution.started" && resultAt !== null) {
            gaps.push(event.createdAt.getTime() - resultAt);
            resultAt = null;
          }
        }
      }
      return gaps;
    }

    // Warm-up: JIT and connection pools, not measured.
    await drive(2, "warmup");
    const latency: number[] = [];
    for (let i = 0; i < 10; i += 1)
      latency.push(...(await handoffs((await drive(1, `solo-${i}`)).ids)));
    const load = await drive(RUNS, "load");
    const loadHandoffs = await handoffs(load.ids);
    const [completedRow] = (
      await devflow.database.pool.query<{ n: string }>(
        "select count(*) as n from runs where state = 'completed'",
      )
    ).rows;
    const events = await db
      .select({ id: runEvents.id })
      .from(runEvents)
      .where(inArray(runEvents.runId, load.ids));
    const completed = Number(completedRow?.n ?? 0);
    const base50 = percentile(baselineLatencies, 50);
    const solo50 = percentile(latency, 50);
    console.log(
      `devflow engine benchmark: development@1 with two planned phases, instant scripted agent, ${devflow.database.url.includes("127.0.0.1") ? "local" : "remote"} PostgreSQL`,
    );
    console.log(
      `baseline, pg-boss send → handler:   p50 ${ms(base50)}, p99 ${ms(percentile(baselineLatencies, 99))} (n=${baselineLatencies.length})`,
    );
    console.log(
      `result → next phase, one run:       p50 ${ms(solo50)}, p99 ${ms(percentile(latency, 99))} (n=${latency.length}); p50 ${(solo50 / base50).toFixed(1)}x the baseline`,
    );
    console.log(
      `result → next phase, ${RUNS} at once:  p50 ${ms(percentile(loadHandoffs, 50))}, p99 ${ms(percentile(loadHandoffs, 99))} (n=${loadHandoffs.length}; includes waiting for a free worker)`,
    );
    console.log(
      `throughput, ${RUNS} runs at once:      ${(RUNS / load.seconds).toFixed(1)} runs/s, ${(events.length / load.seconds).toFixed(0)} transitions (events)/s, ${load.seconds.toFixed(2)} s in all`,
    );
    if (completed !== RUNS + 12) {
      console.log(`only ${completed} of ${RUNS + 12} runs completed`);
      process.exitCode = 1;
    }
  } finally {
    await devflow.stop({ graceful: false });
  }
} finally {
  await db0.stop();
}
