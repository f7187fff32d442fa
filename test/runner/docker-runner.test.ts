import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { phaseAttempts, runnerExecutions } from "../../src/db/schema/index.ts";
import { createDockerRunner } from "../../src/runner/backends/docker-runner.ts";
import { SANDBOX_UIDS } from "../../src/runner/sandbox/sandbox-user.ts";
import { dockerForTests } from "../helpers/docker-for-tests.ts";
import { createBareRemote, tempDir } from "../helpers/git-fixtures.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";
import { branchCommits, fullRunLeavesCommits } from "../helpers/runner-contract.ts";

const TOKEN = "ghs_dockerRunnerSecret0002";
const PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----docker-runner-test";
const env = await dockerForTests();

let h: Harness;
beforeAll(async () => {
  if (!env.available) return;
  process.env.PRIVATE_KEY = PRIVATE_KEY;
  process.env.GITHUB_TOKEN = TOKEN;
  h = await startHarness({
    runner: createDockerRunner({
      image: env.image,
      network: "none",
      cpus: 1,
      memoryMb: 512,
      pids: 128,
      ...(env.socketPath === undefined ? {} : { socketPath: env.socketPath }),
    }),
    credentials: { tokenFor: async () => TOKEN },
    jobs: { attemptTimeoutSeconds: 5 },
  });
});
afterAll(async () => {
  delete process.env.PRIVATE_KEY;
  delete process.env.GITHUB_TOKEN;
  await h?.stop();
});

const containersOf = (runId: string) =>
  env.docker.listContainers({ all: true, filters: { label: [`dev.devflow.run=${runId}`] } });

async function execIn(
  containerId: string,
  cmd: string[],
): Promise<{ exitCode: number | null; output: string }> {
  const exec = await env.docker
    .getContainer(containerId)
    .exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({});
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve) => {
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => resolve());
  });
  const { ExitCode } = await exec.inspect();
  return { exitCode: ExitCode, output: Buffer.concat(chunks).toString("latin1") };
}

async function runningContainer(runId: string): Promise<string> {
  return h.waitFor(
    "the agent's container",
    async () => (await containersOf(runId)).find((c) => c.State === "running")?.Id,
  );
}

describe.skipIf(!env.available)("the docker runner", () => {
  it("runs development@1 end to end in containers, and removes every container", async () => {
    const remote = createBareRemote();
    const { runId, files } = await fullRunLeavesCommits(h, remote);
    expect(files.get("SCRIPTED_CHANGE.md")).toBeDefined();
    const executions = await h.db
      .select()
      .from(runnerExecutions)
      .where(eq(runnerExecutions.runId, runId));
    expect(executions.map((e) => e.backend)).toEqual(["docker", "docker", "docker"]);
    expect(executions.every((e) => typeof e.handle?.containerId === "string")).toBe(true);
    await h.waitFor("no container left", async () => (await containersOf(runId)).length === 0);
  });

  it("in the container, neither the environment nor any mounted file holds the token or the app key", async () => {
    const { runId } = await h.start({
      cloneUrl: createBareRemote(),
      scenarios: { spec: "timeout" },
    });
    const id = await runningContainer(runId);
    const inspected = await env.docker.getContainer(id).inspect();
    const environment = inspected.Config.Env.join("\n");
    expect(environment).toContain(`DEVFLOW_RUN_ID=${runId}`);
    expect(environment).not.toContain(TOKEN);
    expect(environment).not.toContain(PRIVATE_KEY);
    expect(inspected.HostConfig.NetworkMode).toBe("none");
    // Writable: the workspace and the execution's directory; everything else read-only.
    expect(inspected.HostConfig.Binds?.map((bind) => bind.split(":").slice(1).join(":"))).toEqual([
      "/workspace:rw",
      "/devflow:rw",
      "/devflow/sandbox/init.mjs:ro",
      "/etc/passwd:ro",
      "/etc/group:ro",
      "/run/devflow-net:ro",
      "/git/objects:ro",
    ]);
    // The hardening: non-root, read-only root, no capabilities, limits, an init, a label.
    // As root, a host uid of the execution's own, in the block no account uses.
    const [uid, gid] = (inspected.Config.User ?? "").split(":").map(Number);
    if (process.getuid?.() === 0) {
      expect(uid).toBeGreaterThanOrEqual(SANDBOX_UIDS.first);
      expect(uid).toBeLessThan(SANDBOX_UIDS.first + SANDBOX_UIDS.count);
      expect(gid).toBe(uid);
    } else {
      expect(uid).toBe(process.getuid?.());
    }
    expect(inspected.HostConfig).toMatchObject({
      ReadonlyRootfs: true,
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges"],
      Init: true,
      PidsLimit: expect.any(Number),
      LogConfig: { Type: "json-file", Config: { "max-size": "20m", "max-file": "2" } },
    });
    expect(inspected.HostConfig.MemorySwap).toBe(inspected.HostConfig.Memory);
    expect(Object.keys(inspected.HostConfig.Tmpfs ?? {}).sort()).toEqual(["/home/agent", "/tmp"]);
    expect(inspected.Config.Labels["dev.devflow.execution"]).toMatch(/^[0-9a-f-]{36}$/);
    expect((await execIn(id, ["id", "-u"])).output).toMatch(new RegExp(`\\b${uid}\\s*$`));
    expect((await execIn(id, ["touch", "/usr/local/x"])).exitCode).not.toBe(0);
    const proc = await execIn(id, ["cat", "/proc/1/environ"]);
    expect(proc.output).not.toContain(TOKEN);
    const grep = await execIn(id, [
      "grep",
      "-r",
      "-l",
      "-e",
      TOKEN,
      "-e",
      "BEGIN RSA PRIVATE KEY",
      "-e",
      Buffer.from(`x-access-token:${TOKEN}`).toString("base64"),
      "/workspace",
      "/devflow",
    ]);
    expect(grep).toMatchObject({ exitCode: 1, output: "" });
    await h.engine.abortRun({ runId, reason: "looked enough" });
    await h.waitFor("the container removed", async () => (await containersOf(runId)).length === 0);
  });

  it("a container killed mid-attempt is retried as a new attempt", async () => {
    const { runId } = await h.start({
      cloneUrl: createBareRemote(),
      scenarios: { spec: ["timeout", "ok"] },
    });
    const id = await runningContainer(runId);
    await env.docker.getContainer(id).kill();
    await h.waitForGate(runId, "spec_approved", 60_000);
    const [retry] = await h.waitForEvents(runId, "phase.retrying");
    expect(retry?.payload).toMatchObject({ category: "agent_error", attempt: 1 });
    await h.waitFor("no container left", async () => (await containersOf(runId)).length === 0);
  });

  it("an agent past its time limit is killed with its container, and retried", async () => {
    const { runId } = await h.start({
      cloneUrl: createBareRemote(),
      scenarios: { spec: ["timeout", "ok"] },
    });
    await h.waitForGate(runId, "spec_approved", 60_000);
    const attempts = await h.db
      .select()
      .from(phaseAttempts)
      .where(eq(phaseAttempts.runId, runId))
      .orderBy(phaseAttempts.attempt);
    expect(attempts.map((a) => [a.attempt, a.state, a.failure?.code ?? null])).toEqual([
      [1, "failed", "attempt_timeout"],
      [2, "succeeded", null],
    ]);
    await h.waitFor("no container left", async () => (await containersOf(runId)).length === 0);
  });

  it("an agent that exits non-zero, and one that writes invalid JSON twice, end in a retry and a gate", async () => {
    const crash = await h.start({
      cloneUrl: createBareRemote(),
      scenarios: { spec: ["crash", "ok"] },
    });
    const remote = createBareRemote();
    const garbage = await h.start({
      cloneUrl: remote,
      scenarios: { spec: { scenario: "garbage", repairScenario: "garbage" } },
    });
    await h.waitForGate(crash.runId, "spec_approved", 60_000);
    expect((await h.waitForEvents(crash.runId, "phase.retrying"))[0]?.payload).toMatchObject({
      code: "agent_exit_nonzero",
    });
    await h.waitForGate(garbage.runId, "artifact_invalid_after_repair", 60_000);
    const status = await h.status(garbage.runId);
    expect(branchCommits(remote, status.run.branch)[0]).toMatchObject({
      run: garbage.runId,
      subject: expect.stringContaining("partial work"),
    });
  });

  it("a container whose worker died stops at its deadline on its own, and any worker's reaper removes it once its execution is over", async () => {
    // The worker that starts it "dies" right after: nobody waits on the container.
    const orphaning = createDockerRunner({
      image: env.image,
      network: "none",
      cpus: 1,
      memoryMb: 256,
      pids: 64,
      ...(env.socketPath === undefined ? {} : { socketPath: env.socketPath }),
    });
    const executionId = randomUUID();
    const handle = await orphaning.start({
      executionId,
      runId: "orphan-run",
      phaseKey: "spec",
      attempt: 1,
      revision: 1,
      workspace: tempDir("orphan-ws"),
      ioDir: tempDir("orphan-io"),
      command: { argv: ["sleep", "300"], env: {} },
      passEnv: [],
      readOnly: [],
      egress: { rules: [] },
      timeoutMs: 1_000,
    });
    const container = env.docker.getContainer(String(handle.containerId));
    // The launcher ends it a few seconds past the limit, worker or not.
    await h.waitFor(
      "the container to stop by itself",
      async () => (await container.inspect()).State.Status === "exited",
      30_000,
    );
    // Another worker's reaper: only what the database says is over goes.
    const reaper = createDockerRunner({
      image: env.image,
      network: "none",
      cpus: 1,
      memoryMb: 256,
      pids: 64,
      ...(env.socketPath === undefined ? {} : { socketPath: env.socketPath }),
    });
    expect(await reaper.reap?.(async () => new Set())).toEqual([]);
    expect((await container.inspect()).State.Status).toBe("exited");
    expect(
      await reaper.reap?.(async (ids) => new Set(ids.filter((id) => id === executionId))),
    ).toEqual([executionId]);
    await expect(container.inspect()).rejects.toMatchObject({ statusCode: 404 });
  }, 60_000);
});
