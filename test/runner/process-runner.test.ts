import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { phaseAttempts, runnerExecutions } from "../../src/db/schema/index.ts";
import { createProcessRunner } from "../../src/runner/backends/process-runner.ts";
import { commitAttempt } from "../../src/runner/workspaces/commit-attempt.ts";
import { prepareWorkspace } from "../../src/runner/workspaces/prepare-workspace.ts";
import { createBareRemote, tempDir } from "../helpers/git-fixtures.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";
import {
  branchCommits,
  branchFiles,
  fullRunLeavesCommits,
  processesOfRun,
} from "../helpers/runner-contract.ts";

const probe = fileURLToPath(new URL("../fixtures/agents/env-probe.mjs", import.meta.url));
const TOKEN = "ghs_processRunnerSecret0001";
const PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----process-runner-test";

let h: Harness;
beforeAll(async () => {
  process.env.PRIVATE_KEY = PRIVATE_KEY;
  process.env.GITHUB_TOKEN = TOKEN;
  h = await startHarness({
    runner: createProcessRunner({ killGraceMs: 500 }),
    jobs: { attemptTimeoutSeconds: 3 },
  });
});
afterAll(async () => {
  delete process.env.PRIVATE_KEY;
  delete process.env.GITHUB_TOKEN;
  await h.stop();
});

describe("the process runner", () => {
  it("runs development@1 end to end: one commit per phase attempt with trailers, artifacts on the run branch", async () => {
    const remote = createBareRemote();
    const { files, runId } = await fullRunLeavesCommits(h, remote);
    expect(files.get("SCRIPTED_CHANGE.md")).toContain(`.devflow/runs/${runId}/implement.json`);
    expect(processesOfRun(runId)).toEqual([]);
  });

  it("kills an agent at its time limit (its whole process group), retries, and leaves nothing running", async () => {
    const remote = createBareRemote();
    const { runId } = await h.start({ cloneUrl: remote, scenarios: { spec: ["timeout", "ok"] } });
    await h.waitForGate(runId, "spec_approved", 30_000);
    const attempts = await h.db
      .select()
      .from(phaseAttempts)
      .where(eq(phaseAttempts.runId, runId))
      .orderBy(phaseAttempts.attempt);
    expect(attempts.map((a) => [a.attempt, a.state, a.failure?.category ?? null])).toEqual([
      [1, "failed", "timeout"],
      [2, "succeeded", null],
    ]);
    expect(processesOfRun(runId)).toEqual([]);
  });

  it("an agent that exits non-zero is an agent_error, retried as a new attempt", async () => {
    const { runId } = await h.start({
      cloneUrl: createBareRemote(),
      scenarios: { spec: ["crash", "ok"] },
    });
    await h.waitForGate(runId, "spec_approved", 30_000);
    const [retry] = await h.waitForEvents(runId, "phase.retrying");
    expect(retry?.payload).toMatchObject({ category: "agent_error", code: "agent_exit_nonzero" });
  });

  it("an agent killed mid-attempt (not by devflow) is retried as a new attempt", async () => {
    const { runId } = await h.start({
      cloneUrl: createBareRemote(),
      scenarios: { spec: ["timeout", "ok"] },
    });
    const [started] = await h.waitForEvents(runId, "execution.started");
    const executionId = String(started?.payload.executionId);
    const pid = await h.waitFor("the agent's pid", async () => {
      const [row] = await h.db
        .select({ handle: runnerExecutions.handle })
        .from(runnerExecutions)
        .where(eq(runnerExecutions.id, executionId));
      return typeof row?.handle?.pid === "number" ? row.handle.pid : undefined;
    });
    process.kill(pid, "SIGKILL");
    await h.waitForGate(runId, "spec_approved", 30_000);
    const [retry] = await h.waitForEvents(runId, "phase.retrying");
    expect(retry?.payload).toMatchObject({ category: "agent_error", attempt: 1 });
  });

  it("invalid JSON twice pauses at the human gate, with the partial work committed", async () => {
    const remote = createBareRemote();
    const { runId } = await h.start({
      cloneUrl: remote,
      scenarios: { spec: { scenario: "garbage", repairScenario: "garbage" } },
    });
    await h.waitForGate(runId, "artifact_invalid_after_repair", 30_000);
    const status = await h.status(runId);
    const [commit] = branchCommits(remote, status.run.branch);
    expect(commit).toMatchObject({
      run: runId,
      phase: "spec",
      attempt: 1,
      subject: expect.stringContaining("partial work"),
    });
    expect(
      branchFiles(remote, status.run.branch).get(`.devflow/runs/${runId}/spec.json`),
    ).toContain("{not json");
  });

  it("gives the agent no GitHub token and no app key: not in its environment, not in any file it can read", async () => {
    const remote = createBareRemote();
    const withToken = await startHarness({
      runner: createProcessRunner({ killGraceMs: 500 }),
      credentials: { tokenFor: async () => TOKEN },
      jobs: {
        defaultAgent: "command",
        agentOptions: { command: `node ${probe} {output} dev/spec@1` },
      },
    });
    try {
      const { runId } = await withToken.start({ cloneUrl: remote });
      // The probe prints every file of the workspace, .git's binary objects included
      // (NUL bytes and all): the run must still reach its gate.
      await withToken.waitForGate(runId, "spec_approved", 30_000);
      const [execution] = await withToken.db
        .select()
        .from(runnerExecutions)
        .where(eq(runnerExecutions.runId, runId));
      const transcript = execution?.transcript ?? "";
      expect(transcript).toContain("env DEVFLOW_RUN_ID=");
      expect(transcript).toContain("/.git/config");
      expect(transcript).not.toContain(TOKEN);
      expect(transcript).not.toContain(Buffer.from(`x-access-token:${TOKEN}`).toString("base64"));
      expect(transcript).not.toContain(PRIVATE_KEY);
      expect(transcript).not.toMatch(/env (GITHUB_TOKEN|PRIVATE_KEY|DATABASE_URL|WEBHOOK_SECRET)=/);
      const [attempt] = await withToken.db
        .select()
        .from(phaseAttempts)
        .where(eq(phaseAttempts.runId, runId));
      expect(attempt?.costUsd).toBe(0.5);
    } finally {
      await withToken.stop();
    }
  });
});

describe("committing an attempt", () => {
  it("a retried attempt that finds its own commit on the remote does not commit again", async () => {
    const remote = createBareRemote();
    const prepared = await prepareWorkspace({
      root: tempDir("commit"),
      runId: "r1",
      remoteUrl: remote,
      branch: "devflow/1-x",
      baseBranch: "main",
    });
    const work = prepared.path;
    const details = {
      gitDir: prepared.gitDir,
      tree: work,
      remoteUrl: remote,
      branch: "devflow/1-x",
      token: undefined,
      runId: "r1",
      phaseKey: "spec",
      attempt: 1,
      title: "Spec",
      body: "b",
    };
    await import("node:fs").then(({ writeFileSync }) => writeFileSync(`${work}/a.txt`, "1\n"));
    const first = await commitAttempt(details);
    await import("node:fs").then(({ writeFileSync }) => writeFileSync(`${work}/a.txt`, "2\n"));
    const second = await commitAttempt(details);
    expect(second).toBe(first);
    expect(branchCommits(remote, "devflow/1-x").filter((c) => c.run === "r1")).toHaveLength(1);
    expect(readFileSync(`${work}/a.txt`, "utf8")).toBe("2\n");
  });
});
