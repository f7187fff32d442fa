import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { phaseAttempts, runnerExecutions } from "../../src/db/schema/index.ts";
import { createDockerRunner } from "../../src/runner/backends/docker-runner.ts";
import { createProcessRunner } from "../../src/runner/backends/process-runner.ts";
import type { Runner } from "../../src/runner/runner.ts";
// @ts-expect-error: a plain-JavaScript fixture without types
import { ARTIFACTS } from "../fixtures/agents/stand-in-lib.mjs";
import { dockerForTests } from "../helpers/docker-for-tests.ts";
import { createBareRemote } from "../helpers/git-fixtures.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";
import {
  anthropicStandIn,
  type ModelStandIn,
  responsesStandIn,
} from "../helpers/model-stand-ins.ts";
import { processesOfRun } from "../helpers/runner-contract.ts";

/**
 * The agent most users plug in, as npm ships it, run by devflow in each real
 * sandbox against a local stand-in of its model API: CI installs the CLIs
 * (DEVFLOW_TEST_AGENT_CLIS, their node_modules/.bin) and builds a runner image
 * with them (DEVFLOW_TEST_AGENTS_IMAGE). Elsewhere these tests are skipped, and
 * say why; with DEVFLOW_REQUIRE_DOCKER=1 (CI) a missing piece fails them.
 */
const clis = process.env.DEVFLOW_TEST_AGENT_CLIS;
const agentsImage = process.env.DEVFLOW_TEST_AGENTS_IMAGE;
const docker = await dockerForTests();
if (
  process.env.DEVFLOW_REQUIRE_DOCKER === "1" &&
  (clis === undefined || agentsImage === undefined)
) {
  throw new Error(
    "DEVFLOW_REQUIRE_DOCKER=1 but DEVFLOW_TEST_AGENT_CLIS or DEVFLOW_TEST_AGENTS_IMAGE is not set (bash .ci/run sets both)",
  );
}
if (clis === undefined)
  process.stdout.write("real agent CLI tests skipped: DEVFLOW_TEST_AGENT_CLIS is not set\n");

interface Backend {
  name: string;
  available: boolean;
  runner: () => Runner;
}

const backends: Backend[] = [
  {
    name: "process",
    available: clis !== undefined,
    runner: () => createProcessRunner({ killGraceMs: 500 }),
  },
  {
    name: "docker",
    available: docker.available && agentsImage !== undefined,
    runner: () =>
      createDockerRunner({
        image: agentsImage ?? "",
        network: "none",
        cpus: 1,
        memoryMb: 1024,
        pids: 256,
        ...(docker.socketPath === undefined ? {} : { socketPath: docker.socketPath }),
      }),
  },
];

/** Each real CLI: its adapter, its model API's stand-in, and the variables pointing it there. */
const CLIS = [
  {
    cli: "claude",
    agent: "claude-code",
    standIn: anthropicStandIn,
    env: (url: string) => ({
      ANTHROPIC_API_KEY: "sk-ant-api03-devflow-test-key-0000000000",
      ANTHROPIC_BASE_URL: url,
    }),
    /** Claude Code prices its usage; Codex reports tokens only. */
    costs: true,
  },
  {
    cli: "codex",
    agent: "codex",
    standIn: responsesStandIn,
    env: (url: string) => ({
      OPENAI_API_KEY: "sk-proj-devflow-test-key-000000000000",
      OPENAI_BASE_URL: `${url}/v1`,
    }),
    costs: false,
  },
] as const;

describe.each(
  CLIS.flatMap((cli) =>
    backends.map((backend) => ({
      ...cli,
      backend,
      name: `${cli.cli} in the ${backend.name} runner`,
    })),
  ),
)("the real $name", ({ backend, standIn, env, agent, costs }) => {
  let h: Harness;
  let api: ModelStandIn;
  const saved = { ...process.env };

  beforeAll(async () => {
    if (!backend.available) return;
    api = await standIn((schemaId) => ARTIFACTS[schemaId as keyof typeof ARTIFACTS]);
    // devflow's own environment, as an operator sets it: the CLI on PATH, its key,
    // and its model endpoint on this host's loopback.
    process.env.PATH = `${clis}:${process.env.PATH}`;
    Object.assign(process.env, env(api.url));
    h = await startHarness({
      runner: backend.runner(),
      jobs: { defaultAgent: agent, attemptTimeoutSeconds: 120 },
      waitTimeoutMs: 120_000,
    });
  }, 60_000);

  afterAll(async () => {
    if (!backend.available) return;
    process.env.PATH = saved.PATH;
    for (const name of Object.keys(env(""))) delete process.env[name];
    await h.stop();
    await api.close();
  });

  it.runIf(backend.available)(
    "writes the phase's artifact with its own tool through the allowlisted route to its API; devflow reads what it used",
    async () => {
      const { runId } = await h.start({ cloneUrl: createBareRemote() });
      await h.waitForGate(runId, "spec_approved", 120_000);
      const [attempt] = await h.db
        .select()
        .from(phaseAttempts)
        .where(eq(phaseAttempts.runId, runId));
      expect(attempt).toMatchObject({ state: "succeeded", attempt: 1 });
      if (costs) expect(attempt?.costUsd).toBeGreaterThan(0);
      expect(attempt?.tokens).toMatchObject({
        input: expect.any(Number),
        output: expect.any(Number),
      });
      expect(attempt?.tokens?.input).toBeGreaterThan(0);
      // The CLI really asked the stand-in, with the prompt devflow wrote, and was
      // refused nothing on the way.
      expect(api.requests.some((request) => request.body.includes("# Phase: Specification"))).toBe(
        true,
      );
      const [execution] = await h.db
        .select()
        .from(runnerExecutions)
        .where(eq(runnerExecutions.runId, runId));
      expect(execution?.exit).toMatchObject({ exitCode: 0 });
      expect(execution?.exit?.egressDenied).toBeUndefined();
      expect(processesOfRun(runId)).toEqual([]);
    },
    180_000,
  );
});

describe.runIf(clis !== undefined && process.getuid?.() === 0)(
  "the real claude CLI run bare as root (DEVFLOW_INSECURE_NO_SANDBOX)",
  () => {
    it("fails, and the failure quotes why the CLI refused instead of only its exit code", async () => {
      const api = await anthropicStandIn(
        (schemaId) => ARTIFACTS[schemaId as keyof typeof ARTIFACTS],
      );
      const saved = process.env.PATH;
      process.env.PATH = `${clis}:${process.env.PATH}`;
      process.env.ANTHROPIC_API_KEY = "sk-ant-api03-devflow-test-key-0000000000";
      process.env.ANTHROPIC_BASE_URL = api.url;
      const h = await startHarness({
        runner: createProcessRunner({ killGraceMs: 500, sandbox: "none" }),
        jobs: { defaultAgent: "claude-code", attemptTimeoutSeconds: 60 },
      });
      try {
        const { runId } = await h.start({ cloneUrl: createBareRemote() });
        const [retry] = await h.waitForEvents(runId, "phase.retrying", 1, 60_000);
        expect(retry?.payload).toMatchObject({ category: "agent_error" });
        // The CLI's own reason, from the last lines it printed, reaches the phase.
        expect(String(retry?.payload.message)).toContain(
          "--dangerously-skip-permissions cannot be used with root/sudo privileges",
        );
        expect(String(retry?.payload.message)).not.toContain("sk-ant-api03-devflow-test-key");
      } finally {
        await h.stop();
        await api.close();
        process.env.PATH = saved;
        delete process.env.ANTHROPIC_API_KEY;
        delete process.env.ANTHROPIC_BASE_URL;
      }
    }, 120_000);
  },
);
