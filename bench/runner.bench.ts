/**
 * `npm run bench:runner [-- --attempts N]`: what running an agent in its sandbox
 * costs. First the process runner: one execution of the scripted agent in its
 * bubblewrap sandbox (start, wait, capture, dispose) next to the same command
 * spawned bare, measured interleaved in the same run (target: under 1.5x), and
 * with the egress bridge an agent with a network gets. Then the docker backend,
 * next to a bare `docker run --rm --network none <image> true`, when a Docker
 * Engine (DOCKER_HOST) and the runner image (DEVFLOW_BENCH_DOCKER_IMAGE, default
 * devflow-runner:test, built by .ci/run) are there.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { inArray } from "drizzle-orm";
import pino from "pino";
import { SCRIPTED_AGENT_PATH, scriptedAdapter } from "../src/agents/scripted/scripted-adapter.ts";
import { phaseAttempts } from "../src/db/schema/index.ts";
import { createDockerRunner } from "../src/runner/backends/docker-runner.ts";
import { createProcessRunner } from "../src/runner/backends/process-runner.ts";
import type { Runner, RunnerRequest } from "../src/runner/runner.ts";
import { createGitWorkspaces } from "../src/runner/workspaces/git-workspaces.ts";
import { createScratchWorkspaces } from "../src/runner/workspaces/scratch-workspaces.ts";
import { noGitCredentials } from "../src/runner/workspaces/workspaces.ts";
import { startDevflow } from "../src/start-devflow.ts";
import { benchDatabase, ms, percentile } from "./helpers/bench-database.ts";

const argAttempts = process.argv.indexOf("--attempts");
const N = argAttempts > 0 ? Number(process.argv[argAttempts + 1]) : 15;
const image = process.env.DEVFLOW_BENCH_DOCKER_IMAGE ?? "devflow-runner:test";
const socketPath = process.env.DOCKER_HOST?.startsWith("unix://")
  ? process.env.DOCKER_HOST.slice(7)
  : undefined;
const scratch = (label: string) => mkdtempSync(join(tmpdir(), `devflow-bench-${label}-`));

/** One execution of the scripted agent through `runner`, in fresh directories; its milliseconds. */
async function oneExecution(
  runner: Runner,
  id: string,
  egress: RunnerRequest["egress"],
): Promise<number> {
  const workspace = scratch("ws");
  const ioDir = scratch("io");
  writeFileSync(join(ioDir, "prompt.md"), "bench\n");
  const view = runner.view({ workspace, ioDir });
  const command = scriptedAdapter.command({
    view,
    promptFile: `${view.io}/prompt.md`,
    schemaFile: `${view.io}/schema.json`,
    outputPath: ".devflow/spec.json",
    schemaId: "dev/spec@1",
    scenario: "ok",
    options: {},
  });
  const start = performance.now();
  const handle = await runner.start({
    executionId: id,
    runId: "bench",
    phaseKey: "spec",
    attempt: 1,
    revision: 1,
    workspace,
    ioDir,
    command,
    passEnv: [],
    readOnly: [],
    egress,
    timeoutMs: 60_000,
  });
  const exit = await runner.wait(handle);
  await runner.capture(handle, 0);
  await runner.dispose(handle);
  if (exit.exitCode !== 0) throw new Error(`the scripted agent exited ${exit.exitCode}`);
  return performance.now() - start;
}

/** The same scripted agent, spawned bare: no sandbox, no runner. */
async function bareSpawn(): Promise<number> {
  const workspace = scratch("ws");
  const prompt = join(scratch("io"), "prompt.md");
  writeFileSync(prompt, "bench\n");
  const start = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        SCRIPTED_AGENT_PATH,
        "--prompt-file",
        prompt,
        "--output",
        ".devflow/spec.json",
        "--schema-id",
        "dev/spec@1",
        "--scenario",
        "ok",
      ],
      { cwd: workspace, stdio: "ignore" },
    );
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
  });
  return performance.now() - start;
}

{
  const sandbox = createProcessRunner({ killGraceMs: 500 });
  const bare: number[] = [];
  const boxed: number[] = [];
  const bridged: number[] = [];
  const network = { rules: [{ host: "api.anthropic.com", port: 443, named: false }] };
  // Warm up once each, then interleave so the machine's noise hits all three alike.
  await bareSpawn();
  await oneExecution(sandbox, "warm", { rules: [] });
  for (let i = 0; i < N; i += 1) {
    bare.push(await bareSpawn());
    boxed.push(await oneExecution(sandbox, `sandbox-${i}`, { rules: [] }));
    bridged.push(await oneExecution(sandbox, `bridge-${i}`, network));
  }
  const base = percentile(bare, 50);
  console.log(`devflow runner benchmark: process sandbox (bubblewrap), ${N} samples each`);
  console.log(
    `baseline, the scripted agent spawned bare:          p50 ${ms(base)}, p99 ${ms(percentile(bare, 99))}`,
  );
  console.log(
    `one execution in its sandbox (no network):          p50 ${ms(percentile(boxed, 50))}, p99 ${ms(percentile(boxed, 99))}; ${(percentile(boxed, 50) / base).toFixed(2)}x the baseline (target < 1.5x)`,
  );
  console.log(
    `with the egress proxy and its bridge (a network):   p50 ${ms(percentile(bridged, 50))}, p99 ${ms(percentile(bridged, 99))}; ${(percentile(bridged, 50) / base).toFixed(2)}x, +${ms(percentile(bridged, 50) - percentile(boxed, 50))} for the bridge`,
  );
}

// Without an engine and the image there is nothing to measure: say so, and let `npm run bench` go on.
try {
  execFileSync("docker", ["image", "inspect", image], { stdio: "ignore" });
} catch {
  console.log(
    `devflow runner benchmark skipped: no Docker Engine at ${process.env.DOCKER_HOST ?? "the default socket"} with the image ${image} (bash .ci/run sets both up)`,
  );
  process.exit(0);
}
console.log("");

function timeIt(fn: () => void): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

// Baseline: the bare container round trip.
const bare: number[] = [];
const bareNode: number[] = [];
for (let i = 0; i < N; i += 1) {
  bare.push(
    timeIt(() => execFileSync("docker", ["run", "--rm", "--network", "none", image, "true"])),
  );
  bareNode.push(
    timeIt(() =>
      execFileSync("docker", ["run", "--rm", "--network", "none", image, "node", "-e", "0"]),
    ),
  );
}

// One execution through the docker runner: create, start, wait, capture, remove.
const runner = createDockerRunner({
  image,
  network: "none",
  cpus: 1,
  memoryMb: 512,
  pids: 128,
  ...(socketPath === undefined ? {} : { socketPath }),
});
const executions: number[] = [];
for (let i = 0; i < N; i += 1)
  executions.push(await oneExecution(runner, `bench-${i}`, { rules: [] }));

// A whole attempt through devflow: workspace fetch, prompt, container, validation, commit and push.
const db = await benchDatabase("runner");
const remote = scratch("remote");
execFileSync("git", ["init", "-q", "--bare", "-b", "main", remote]);
const seed = scratch("seed");
execFileSync(
  "sh",
  [
    "-c",
    `git init -q -b main && echo '# bench' > README.md && git add . && git -c user.name=b -c user.email=b@b commit -qm initial && git push -q ${remote} main`,
  ],
  { cwd: seed },
);
const devflow = await startDevflow({
  databaseUrl: db.url,
  limits: { maxActiveRuns: 100, maxActiveRunsPerRepository: 100 },
  jobs: {
    attemptTimeoutSeconds: 120,
    agentOptions: {},
    workerConcurrency: 1,
    heartbeatMs: 10_000,
    staleAfterMs: 120_000,
    sweepIntervalSeconds: 3600,
    defaultAgent: "scripted",
    egressAllow: [],
  },
  workers: true,
  runner,
  workspaces: {
    git: createGitWorkspaces({ root: scratch("workspaces"), credentials: noGitCredentials }),
    scratch: createScratchWorkspaces({ root: scratch("scratch") }),
  },
  executionsDir: scratch("executions"),
  log: pino({ level: "warn" }),
});
const ids: string[] = [];
for (let i = 0; i < N; i += 1) {
  const { runId } = await devflow.engine.startRun({
    startKey: `runner-bench-${i}`,
    repository: "bench/repo",
    issueNumber: i + 1,
    issueTitle: `Runner bench ${i}`,
    requirements: "Bench.",
    baseBranch: "main",
    cloneUrl: remote,
  });
  ids.push(runId);
  // One at a time, so each attempt is measured alone.
  for (;;) {
    const [attempt] = await devflow.database.db
      .select()
      .from(phaseAttempts)
      .where(inArray(phaseAttempts.runId, [runId]));
    if (attempt?.endedAt) break;
    await sleep(20);
  }
}
const attemptRows = await devflow.database.db
  .select()
  .from(phaseAttempts)
  .where(inArray(phaseAttempts.runId, ids));
const attempts = attemptRows.map((row) => (row.endedAt?.getTime() ?? 0) - row.startedAt.getTime());
await devflow.stop({ graceful: false });
await db.stop();

const base = percentile(bare, 50);
console.log(`devflow runner benchmark: docker backend, image ${image}, ${N} samples each`);
console.log(
  `baseline, docker run --rm <image> true:    p50 ${ms(base)}, p99 ${ms(percentile(bare, 99))}`,
);
console.log(`for reference, docker run … node -e 0:     p50 ${ms(percentile(bareNode, 50))}`);
console.log(
  `one execution through the docker runner:    p50 ${ms(percentile(executions, 50))}, p99 ${ms(percentile(executions, 99))}; ${(percentile(executions, 50) / base).toFixed(2)}x the baseline`,
);
console.log(
  `one whole attempt (git, container, commit):  p50 ${ms(percentile(attempts, 50))}, p99 ${ms(percentile(attempts, 99))}; ${(percentile(attempts, 50) / base).toFixed(2)}x the baseline`,
);
