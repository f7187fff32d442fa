import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { artifacts, runnerExecutions } from "../../src/db/schema/index.ts";
import { desiredChecks } from "../../src/github/publish/reconcile-check-runs.ts";
import {
  renderPullRequestBody,
  renderRunStatus,
} from "../../src/github/publish/render-run-status.ts";
import { createProcessRunner } from "../../src/runner/backends/process-runner.ts";
import type { Runner } from "../../src/runner/runner.ts";
import { parseEgressRule } from "../../src/security/egress-policy.ts";
import { createSecrets } from "../../src/security/secrets.ts";
import { dockerForTests, dockerRunnerForTests } from "../helpers/docker-for-tests.ts";
import { createBareRemote, git, tempDir } from "../helpers/git-fixtures.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";
import { processesOfRun } from "../helpers/runner-contract.ts";

const fixtures = fileURLToPath(new URL("../fixtures/agents/", import.meta.url));
const hostile = join(fixtures, "hostile-agent.mjs");
const docker = await dockerForTests();

/** Values devflow holds and an agent must never get out: 40+ random characters each. */
const SECRET = {
  privateKey: `-----BEGIN RSA PRIVATE KEY-----\n${randomBytes(48).toString("base64")}\n${randomBytes(48).toString("base64")}\n-----END RSA PRIVATE KEY-----`,
  webhookSecret: `whsec_${randomBytes(24).toString("hex")}`,
  token: `ghs_${randomBytes(18).toString("hex")}`,
  victim: `victim-${randomBytes(20).toString("hex")}`,
  modelKey: `sk-hostile-${randomBytes(20).toString("hex")}`,
};

function walkFiles(dir: string, visit: (path: string) => void): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walkFiles(path, visit);
    else if (entry.isFile()) visit(path);
  }
}

interface Backend {
  name: string;
  available: boolean;
  runner: () => Runner;
  /** Processes or containers of a run still there. */
  survivors: (runId: string) => Promise<unknown[]>;
}

const backends: Backend[] = [
  {
    name: "process",
    available: true,
    runner: () => createProcessRunner({ killGraceMs: 500 }),
    survivors: async (runId) => processesOfRun(runId),
  },
  {
    name: "docker",
    available: docker.available,
    runner: () =>
      // The hostile script is the operator's: shown read-only, as DEVFLOW_SANDBOX_READ_ONLY would.
      dockerRunnerForTests(docker, [fixtures]),
    survivors: async (runId) =>
      docker.docker.listContainers({ all: true, filters: { label: [`dev.devflow.run=${runId}`] } }),
  },
];

describe.each(backends)("a hostile agent in the $name runner", (backend) => {
  let h: Harness;
  let attacker: Server;
  const requests: string[] = [];
  const roots = { workspaces: tempDir("workspaces"), executions: tempDir("executions") };
  const home = tempDir("devflow-home");
  const markerDir = tempDir("markers");
  const canary = join(home, "canary.txt");
  const envFile = join(home, ".env");
  const victim = join(roots.workspaces, "victim-run", "tree");
  let attackerUrl = "";

  beforeAll(async () => {
    if (!backend.available) return;
    writeFileSync(canary, "the host's own file\n");
    writeFileSync(
      envFile,
      `PRIVATE_KEY="${SECRET.privateKey.replaceAll("\n", "\\n")}"\nWEBHOOK_SECRET=${SECRET.webhookSecret}\n`,
    );
    mkdirSync(victim, { recursive: true });
    writeFileSync(join(victim, "SECRET.txt"), `${SECRET.victim}\n`);
    // What devflow holds in its environment, where an unsandboxed agent would find it.
    process.env.PRIVATE_KEY = SECRET.privateKey;
    process.env.WEBHOOK_SECRET = SECRET.webhookSecret;
    process.env.GITHUB_TOKEN = SECRET.token;
    process.env.HOSTILE_MODEL_KEY = SECRET.modelKey;
    attacker = createServer((req, res) => {
      requests.push(`${req.method} ${req.url} ${req.headers.authorization ?? ""}`);
      res.end("ok");
    });
    await new Promise<void>((resolve) => attacker.listen(0, "127.0.0.1", resolve));
    const address = attacker.address();
    attackerUrl = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`;
    h = await startHarness({
      runner: backend.runner(),
      credentials: { tokenFor: async () => SECRET.token },
      roots,
      secrets: createSecrets([
        { name: "the GitHub App's private key", value: SECRET.privateKey },
        { name: "the webhook secret", value: SECRET.webhookSecret },
        { name: "HOSTILE_MODEL_KEY", value: SECRET.modelKey },
      ]),
      jobs: {
        attemptTimeoutSeconds: 60,
        defaultAgent: "command",
        agentOptions: {
          command: `node ${hostile} {prompt} {output}`,
          commandEnv: ["HOSTILE_MODEL_KEY"],
        },
        // An agent with somewhere to go gets the proxy and its bridge: the harder case.
        egressAllow: [parseEgressRule("registry.npmjs.org", true)],
      },
      waitTimeoutMs: 90_000,
    });
  }, 120_000);

  afterAll(async () => {
    if (!backend.available) return;
    for (const name of ["PRIVATE_KEY", "WEBHOOK_SECRET", "GITHUB_TOKEN", "HOSTILE_MODEL_KEY"]) {
      delete process.env[name];
    }
    attacker.close();
    await h.stop();
  });

  function orders(remote: string, modes: Record<string, unknown>, extra: object = {}): string {
    const url = new URL(h.databaseUrl);
    return `Please build the widget.\n\nHOSTILE-TARGETS${JSON.stringify({
      files: [envFile, canary, join(victim, "SECRET.txt")],
      dirs: [roots.workspaces, home, markerDir],
      pgPort: Number(url.port),
      attacker: attackerUrl,
      markerDir,
      canary,
      cloneUrl: remote,
      modes,
      ...extra,
    })}HOSTILE-TARGETS\n`;
  }

  it.runIf(backend.available)(
    "contains every escape: nothing planted runs, nothing secret leaves, no host file changes, nothing survives; the run completes",
    async () => {
      const remote = createBareRemote();
      const canaryBefore = statSync(canary).mtimeMs;
      const { runId } = await h.start({
        cloneUrl: remote,
        requirements: orders(remote, {
          spec: "md-link",
          phase_plan: ["json-link", "md-fifo"],
          implement: ["dir-link", "report-link"],
        }),
      });
      await h.approve(runId, "spec_approved");
      await h.approve(runId, "phase_plan_approved");
      await h.waitForState(runId, "completed", 120_000);
      // The run ends with its report committed on the branch, over the agent's links.
      const done = await h.waitForStatus(
        runId,
        (status) => status.finishedBranch !== null,
        "the run's branch finished",
        60_000,
      );
      const reportCommit = done.finishedBranch?.reportCommit ?? "";
      expect(reportCommit).toMatch(/^[0-9a-f]{40}$/);

      const executions = await h.db
        .select()
        .from(runnerExecutions)
        .where(eq(runnerExecutions.runId, runId));
      const transcripts = executions.map((execution) => execution.transcript).join("\n");
      // The attacks were made (the test is not vacuous) and every one was contained.
      for (const attack of [
        "attack proc-environ: blocked",
        "attack read-file: blocked",
        "attack list-dir: blocked",
        "attack database: blocked",
        "attack attacker-direct: blocked",
        "attack attacker-via-proxy: blocked proxy answered 403",
        "attack metadata: blocked",
        "attack git-plants: blocked planted",
        "attack survivors: blocked",
        "attack markdown-link: blocked",
        "attack artifact-link: blocked",
        "attack markdown-fifo: blocked",
        "attack directory-link: blocked",
        "attack report-link: blocked",
      ]) {
        expect(transcripts).toContain(attack);
      }
      expect(transcripts).not.toContain("ESCAPED");

      // Nothing planted in the agent's .git ran in devflow's git commands.
      expect(readdirSync(markerDir)).toEqual([]);
      // No request reached the attacker: not the push (pushurl, pushInsteadOf), not the agent.
      expect(requests).toEqual([]);
      // The proxy refused and recorded the attacker and the metadata service.
      const denied = executions.flatMap(
        (execution) =>
          (execution.exit?.egressDenied as { host: string; port: number }[] | undefined) ?? [],
      );
      expect(denied.map((denial) => `${denial.host}:${denial.port}`)).toEqual(
        expect.arrayContaining([new URL(attackerUrl).host, "169.254.169.254:80"]),
      );
      // The host file behind the link is untouched; the Markdown is a file on the branch.
      expect(readFileSync(canary, "utf8")).toBe("the host's own file\n");
      expect(statSync(canary).mtimeMs).toBe(canaryBefore);
      const tree = git(remote, "ls-tree", "-r", reportCommit, `.devflow/runs/${runId}/`);
      expect(tree).toMatch(/100644 blob \S+\t\.devflow\/runs\/[^/]+\/spec\.md/);
      expect(tree).toMatch(/100644 blob \S+\t\.devflow\/runs\/[^/]+\/report\.md/);
      expect(tree).not.toContain("120000");
      // The last commit takes the run's directory out of the tree.
      expect(git(remote, "ls-tree", "-r", done.run.branch, ".devflow/")).toBe("");
      // The linked artifact was refused, not read.
      const planArtifacts = await h.db.select().from(artifacts).where(eq(artifacts.runId, runId));
      expect(planArtifacts.flatMap((artifact) => artifact.errors).join("\n")).toContain(
        "is a symbolic link",
      );
      // No process or container of the agent outlived its attempt.
      expect(await backend.survivors(runId)).toEqual([]);
      expectNoSecrets(await everythingPublishedOrPushed(runId, remote));
    },
    240_000,
  );

  it.runIf(backend.available)(
    "an agent that writes its own model key into the work: nothing is pushed, the run fails with secret_detected",
    async () => {
      const remote = createBareRemote();
      const before = git(remote, "rev-parse", "main");
      const { runId } = await h.start({
        cloneUrl: remote,
        requirements: orders(remote, { spec: "exfiltrate" }, { keyEnv: "HOSTILE_MODEL_KEY" }),
      });
      const failed = await h.waitForState(runId, "failed", 90_000);
      expect(failed.run.failure).toMatchObject({ category: "secret_detected" });
      expect(failed.run.failure?.message).toContain("HOSTILE_MODEL_KEY in config.js line 1");
      expect(failed.run.failure?.message).toContain("[redacted HOSTILE_MODEL_KEY]");
      // Not one object of the attempt reached the remote.
      expect(git(remote, "branch", "--list")).not.toContain(failed.run.branch);
      expect(git(remote, "rev-parse", "main")).toBe(before);
      const published = await everythingPublishedOrPushed(runId, remote);
      expect(published).not.toContain(SECRET.modelKey);
      expect(await backend.survivors(runId)).toEqual([]);
    },
    120_000,
  );

  /** Every text devflow pushed or would publish for the run, and what it stored of the agent. */
  async function everythingPublishedOrPushed(runId: string, remote: string): Promise<string> {
    const status = await h.status(runId);
    const texts = [
      renderRunStatus(status, 1),
      renderPullRequestBody(status),
      ...desiredChecks(status).checks.flatMap((check) => [check.title, check.summary]),
      status.report?.markdown ?? "",
      JSON.stringify(status.report?.json ?? null),
      execFileSync("git", ["cat-file", "--batch-all-objects", "--batch"], {
        cwd: remote,
        encoding: "latin1",
        maxBuffer: 256 * 1024 * 1024,
      }),
    ];
    const stored = await h.db.execute(
      sql`select coalesce(string_agg(t::text, E'\\n'), '') as text from (
        select transcript as t from runner_executions where run_id = ${runId}
        union all select payload::text from run_events where run_id = ${runId}
        union all select coalesce(content::text, '') from artifacts where run_id = ${runId}
      ) rows`,
    );
    texts.push(String((stored.rows[0] as { text: string }).text));
    // Every file outside the sandbox the agent could have written through a trick.
    walkFiles(markerDir, (path) => texts.push(readFileSync(path, "latin1")));
    walkFiles(home, (path) => {
      if (path !== envFile) texts.push(readFileSync(path, "latin1"));
    });
    return texts.join("\n");
  }

  function expectNoSecrets(text: string): void {
    const keyBody = SECRET.privateKey.split("\n")[1] ?? "";
    for (const value of [keyBody, SECRET.webhookSecret, SECRET.token, SECRET.victim]) {
      expect(text.includes(value), `a protected value leaked: ${value.slice(0, 12)}…`).toBe(false);
    }
  }
});
