import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, lstatSync, readdirSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createProcessRunner } from "../../src/runner/backends/process-runner.ts";
import { probeCgroups } from "../../src/runner/sandbox/sandbox-limits.ts";
import { SANDBOX_UIDS } from "../../src/runner/sandbox/sandbox-user.ts";
import { dockerForTests, dockerRunnerForTests } from "../helpers/docker-for-tests.ts";
import { executionProcesses } from "../helpers/execution-processes.ts";
import { createBareRemote, tempDir } from "../helpers/git-fixtures.ts";
import { startHarness } from "../helpers/harness.ts";
import { agentRequest, runAgentDirectly } from "../helpers/run-agent-directly.ts";

const INSIDER = fileURLToPath(new URL("../fixtures/agents/insider-agent.mjs", import.meta.url));
const root = process.getuid?.() === 0;
const cgroups = probeCgroups();
const docker = await dockerForTests();

function insider(modes: string[], env: Record<string, string> = {}) {
  return { argv: [process.execPath, INSIDER, ...modes], env, tools: [INSIDER] };
}

/** The host uids of the agent processes of `executionId`. */
async function hostUids(executionId: string): Promise<number[]> {
  const uids = new Set<number>();
  for (const found of await executionProcesses()) {
    // The agent itself (the launcher is root until it becomes the agent's uid).
    if (found.executionId !== executionId || !found.command.includes("insider-agent")) continue;
    const status = await readFile(`/proc/${found.pid}/status`, "utf8").catch(() => "");
    const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
    if (uid !== undefined) uids.add(Number(uid));
  }
  return [...uids];
}

/** Every path under `dir`, links not followed. */
function walk(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    found.push(path);
    if (lstatSync(path).isDirectory()) found.push(...walk(path));
  }
  return found;
}

describe("an agent that has read the sandbox's code, in the process runner", () => {
  const limits = { pids: 200, memoryMb: 256, tmpMb: 64 };

  it("is no one on the host: not root, no root-only file readable, no set-id program left, nothing of it left behind", async () => {
    const secrets = tempDir("devflow-insider-secret-");
    chmodSync(secrets, 0o755);
    const secretFile = join(secrets, "only-root.txt");
    writeFileSync(secretFile, "INSIDER-SECRET-7f3a", { mode: 0o600 });
    const runner = createProcessRunner({ readOnly: [secrets], limits });
    const request = agentRequest(
      insider(["identity", "files", "setid", "links"], { INSIDER_SECRET_FILE: secretFile }),
    );
    const { exit, transcript, findings } = await runAgentDirectly(runner, request, async () => {
      // Who its processes are on the host, read while it runs.
      for (let tries = 0; tries < 100; tries += 1) {
        const uids = await hostUids(request.executionId);
        if (uids.length > 0) return uids;
        await sleep(20);
      }
      return [];
    });
    expect(exit.exitCode).toBe(0);
    expect(transcript).toContain("insider done");
    expect(transcript).not.toContain("INSIDER-SECRET-7f3a");
    expect(findings.get("identity")).toEqual({ inside: 1000 });
    const outside = findings.get("host uids") as number[];
    expect(outside.length).toBeGreaterThan(0);
    if (root) {
      for (const uid of outside) {
        expect(uid).toBeGreaterThanOrEqual(SANDBOX_UIDS.first);
        expect(uid).toBeLessThan(SANDBOX_UIDS.first + SANDBOX_UIDS.count);
      }
      expect(findings.get("secret-file")).toEqual({ ok: false, code: "EACCES" });
      expect(findings.get("ssl-private")).toMatchObject({ ok: false });
    } else {
      expect(new Set(outside)).toEqual(new Set([process.getuid?.()]));
    }
    // The set-user-ID copies were made inside; on the host none stays set-id, and
    // what the agent wrote is devflow's own again, writable by no one else.
    expect(findings.get("setid")).toEqual([
      { ok: true, value: "/devflow/home/id" },
      { ok: true, value: "/workspace/tools/id" },
    ]);
    expect(transcript).toMatch(/devflow: the agent left 2 set-user-ID or set-group-ID file\(s\)/);
    expect(transcript).toMatch(/devflow: the agent left \d FIFO\(s\) or socket\(s\), removed/);
    for (const path of walk(request.workspace)) {
      const stats = lstatSync(path);
      expect({ path, setId: stats.mode & 0o6000, others: stats.mode & 0o022 }).toEqual({
        path,
        setId: 0,
        others: 0,
      });
      expect(stats.uid).toBe(process.getuid?.());
      expect(stats.isFIFO()).toBe(false);
    }
    // The execution's directory and devflow's files beside it are gone.
    for (const path of [request.ioDir, `${request.ioDir}.net`, `${request.ioDir}.transcript.log`])
      expect(existsSync(path)).toBe(false);
  });

  it("stops at its limits: a fork bomb at the process limit, a /tmp fill at the /tmp limit", async () => {
    const runner = createProcessRunner({ limits });
    const { findings } = await runAgentDirectly(runner, agentRequest(insider(["tmp", "forks"])));
    const tmp = findings.get("tmp") as { mib: number; code: string };
    expect(tmp.code).toBe("ENOSPC");
    expect(tmp.mib).toBeLessThanOrEqual(limits.tmpMb);
    const forks = findings.get("forks") as { alive: number; refused: string | null };
    expect(forks.refused).toBe("EAGAIN");
    expect(forks.alive).toBeLessThanOrEqual(limits.pids);
    // Stopped by the limit, not by something else long before it.
    expect(forks.alive).toBeGreaterThan(limits.pids / 2);
  });

  it.skipIf(cgroups.parents.memory === undefined && process.env.CI !== "true")(
    "is killed at its memory limit, whatever it tries to take",
    async () => {
      const runner = createProcessRunner({ limits });
      const { exit, findings } = await runAgentDirectly(runner, agentRequest(insider(["memory"])));
      expect(exit.exitCode).not.toBe(0);
      const last = findings.get("memory") as { mib: number } | undefined;
      expect(last?.mib ?? 0).toBeLessThanOrEqual(limits.memoryMb);
    },
  );

  it("holds no descriptor but its stdio, even one devflow inherited from its own parent", () => {
    // devflow started by a parent that leaves a pipe open on fd 3 (not close-on-exec).
    const script = fileURLToPath(new URL("../helpers/run-insider-in-child.ts", import.meta.url));
    const out = execFileSync(process.execPath, [script, INSIDER], {
      stdio: ["ignore", "pipe", "inherit", "pipe"],
      encoding: "utf8",
      timeout: 60_000,
    });
    const fds = JSON.parse(/^finding fds (.*)$/m.exec(out)?.[1] ?? "null");
    expect(fds).toEqual([]);
  });
});

describe("what an agent leaves on the host after its attempt, in a run", () => {
  it("nothing: its execution's files are removed and the work tree is emptied once the attempt is committed", async () => {
    const roots = { workspaces: tempDir("workspaces"), executions: tempDir("executions") };
    const h = await startHarness({
      runner: createProcessRunner({ killGraceMs: 500 }),
      roots,
      jobs: {
        defaultAgent: "command",
        agentOptions: { command: `node ${INSIDER} setid {prompt} {output}` },
      },
      waitTimeoutMs: 60_000,
    });
    try {
      // The agent writes no artifact (nor its repair): its partial work is committed
      // and the run waits for a person.
      const { runId } = await h.start({ cloneUrl: createBareRemote() });
      await h.waitForGate(runId, "artifact_invalid_after_repair");
      expect(readdirSync(roots.executions)).toEqual([]);
      expect(readdirSync(join(roots.workspaces, runId, "tree"))).toEqual([]);
    } finally {
      await h.stop();
    }
  }, 120_000);
});

describe.skipIf(!docker.available)(
  "an agent that has read the sandbox's code, in the docker runner",
  () => {
    it("is no one on the host and leaves no set-id program, FIFO or file of its own behind", async () => {
      const runner = dockerRunnerForTests(docker, [dirname(INSIDER)]);
      const request = agentRequest({
        argv: ["node", INSIDER, "identity", "setid", "links"],
        env: {},
      });
      const { transcript, findings } = await runAgentDirectly(runner, request, async () => {
        for (let tries = 0; tries < 250; tries += 1) {
          const uids = await hostUids(request.executionId);
          if (uids.length > 0) return uids;
          await sleep(20);
        }
        return [];
      });
      expect(transcript).toContain("insider done");
      const outside = findings.get("host uids") as number[];
      expect(outside.length).toBeGreaterThan(0);
      for (const uid of outside) {
        if (root) expect(uid).toBeGreaterThanOrEqual(SANDBOX_UIDS.first);
        else expect(uid).toBe(process.getuid?.());
      }
      expect(transcript).toMatch(/devflow: the agent left 2 set-user-ID or set-group-ID file\(s\)/);
      for (const path of walk(request.workspace)) {
        const stats = lstatSync(path);
        expect({ path, setId: stats.mode & 0o6000, uid: stats.uid, fifo: stats.isFIFO() }).toEqual({
          path,
          setId: 0,
          uid: process.getuid?.(),
          fifo: false,
        });
      }
      for (const path of [request.ioDir, `${request.ioDir}.net`, `${request.ioDir}.transcript.log`])
        expect(existsSync(path)).toBe(false);
    }, 120_000);
  },
);

describe("what an agent hides from a walk by path, in the process runner", () => {
  it("a set-id program and a FIFO past PATH_MAX or under a name that is not UTF-8 are taken back too", async () => {
    const runner = createProcessRunner({ limits: { pids: 200, memoryMb: 512, tmpMb: 64 } });
    const request = agentRequest(insider(["deep", "rootfs"]));
    const { exit, transcript, findings } = await runAgentDirectly(runner, request);
    expect(exit.exitCode).toBe(0);
    expect(findings.get("deep")).toEqual({ depth: 1100 });
    expect(transcript).toMatch(/devflow: the agent left 2 set-user-ID or set-group-ID file\(s\)/);
    expect(transcript).toMatch(/devflow: the agent left 2 FIFO\(s\) or socket\(s\), removed/);
    // find walks relative to each directory: it sees what a walk by full path cannot.
    const left = execFileSync(
      "find",
      [
        "-P",
        request.workspace,
        "(",
        "-perm",
        "/6022",
        "-o",
        "-type",
        "p",
        "-o",
        "!",
        "-uid",
        String(process.getuid?.()),
        ")",
        "-print",
      ],
      { encoding: "latin1", maxBuffer: 64 * 1024 * 1024 },
    );
    expect(left).toBe("");
    expect(existsSync(request.ioDir)).toBe(false);
    // Its own root and /dev are read-only; /dev/shm is as small as /tmp.
    expect(findings.get("rootfs")).toEqual({
      root: "EROFS",
      dev: "EROFS",
      shm: { mib: 64, code: "ENOSPC" },
    });
  }, 120_000);
});
