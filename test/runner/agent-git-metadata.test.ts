import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runnerExecutions } from "../../src/db/schema/index.ts";
import { createProcessRunner } from "../../src/runner/backends/process-runner.ts";
import type { Runner } from "../../src/runner/runner.ts";
import { readSettings } from "../../src/settings.ts";
import { dockerForTests, dockerRunnerForTests } from "../helpers/docker-for-tests.ts";
import { createBareRemote, git, tempDir } from "../helpers/git-fixtures.ts";
import { type Harness, type HarnessOptions, startHarness } from "../helpers/harness.ts";

const fixtures = fileURLToPath(new URL("../fixtures/agents/", import.meta.url));
const planter = join(fixtures, "git-planter.mjs");
const docker = await dockerForTests();

/** A repository on the host that devflow's user can read, holding a value nothing may push. */
function hostRepository() {
  const dir = tempDir("host-repo");
  const secret = `host-only-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  git(dir, "init", "-q", "-b", "main");
  writeFileSync(join(dir, "private.txt"), `${secret}\n`);
  git(dir, "add", "private.txt");
  git(dir, "commit", "-q", "-m", "the host's own history");
  return { dir, secret, head: git(dir, "rev-parse", "HEAD") };
}

function orders(what: object): string {
  return `Please build the widget.\n\nGIT-PLANTER${JSON.stringify(what)}GIT-PLANTER\n`;
}

function planterHarness(runner: Runner, extra: Partial<HarnessOptions> = {}) {
  return startHarness({
    runner,
    jobs: {
      attemptTimeoutSeconds: 120,
      defaultAgent: "command",
      agentOptions: { command: `node ${planter} {prompt} {output}` },
    },
    waitTimeoutMs: 90_000,
    ...extra,
  });
}

/** Every object the remote holds, as text. */
function remoteObjects(remote: string): string {
  return execFileSync("git", ["cat-file", "--batch-all-objects", "--batch"], {
    cwd: remote,
    encoding: "latin1",
    maxBuffer: 256 * 1024 * 1024,
  });
}

async function transcriptsOf(h: Harness, runId: string): Promise<string> {
  const rows = await h.db.select().from(runnerExecutions).where(eq(runnerExecutions.runId, runId));
  return rows.map((row) => row.transcript).join("\n");
}

const backends = [
  { name: "process", available: true, runner: () => createProcessRunner({ killGraceMs: 500 }) },
  {
    name: "docker",
    available: docker.available,
    runner: () => dockerRunnerForTests(docker, [fixtures]),
  },
];

describe.each(backends)(
  "an agent that leaves git metadata in its work ($name runner)",
  (backend) => {
    let h: Harness;
    beforeAll(async () => {
      if (backend.available) h = await planterHarness(backend.runner());
    }, 120_000);
    afterAll(async () => {
      if (backend.available) await h.stop();
    });

    it.runIf(backend.available)(
      "gitfiles, links and repositories of its own: devflow removes each and names it, and the pushed tree holds no gitlink and nothing of the host's repository",
      async () => {
        const host = hostRepository();
        const remote = createBareRemote();
        const { runId } = await h.start({
          cloneUrl: remote,
          requirements: orders({ hostRepo: host.dir }),
        });
        await h.waitForGate(runId, "spec_approved", 120_000);
        const transcript = await transcriptsOf(h, runId);
        // The agent did plant what it says (the test is not vacuous).
        for (const what of [
          'gitfile "h2-leak"',
          "nested repository nested",
          "link linked/.git",
          "gitfile under a name that is not UTF-8",
          "top-level gitfile",
        ]) {
          expect(transcript).toContain(`planted ${what}`);
        }
        const status = await h.status(runId);
        const branch = status.run.branch;
        const entries = execFileSync("git", ["ls-tree", "-r", "-z", "--full-tree", branch], {
          cwd: remote,
          encoding: "latin1",
        })
          .split("\0")
          .filter((entry) => entry !== "");
        expect(entries.length).toBeGreaterThan(5);
        // No gitlink, no .git of any spelling: every entry is a file or a link of the agent's.
        for (const entry of entries) {
          expect(entry).toMatch(/^(100644|100755|120000) blob [0-9a-f]{40}\t/);
          expect(entry.split("\t")[1]?.split("/")).not.toContainEqual(
            expect.stringMatching(/^\.git$/i),
          );
        }
        const paths = entries.map((entry) => entry.split("\t")[1]);
        // What the agent wrote beside the metadata is committed as plain files.
        expect(paths).toEqual(
          expect.arrayContaining([
            "h2-leak/notes.txt",
            "deep/er/still/notes.txt",
            "odd\nname/notes.txt",
            "bytes-\xff/notes.txt",
            "nested/lib.txt",
            "linked/keep.txt",
            `.devflow/runs/${runId}/inside-run/notes.txt`,
            `.devflow/runs/${runId}/spec.json`,
          ]),
        );
        // Nothing of the host's repository reached the remote: not its commit, not its content.
        expect(() => git(remote, "cat-file", "-e", host.head)).toThrow();
        expect(remoteObjects(remote)).not.toContain(host.secret);
        // The commit names each removal.
        const message = git(remote, "log", "-1", "--format=%B", branch);
        for (const removed of [
          "h2-leak/.git",
          "deep/er/still/.git",
          '"odd\\nname/.git"',
          "nested/.git",
          "linked/.git",
          `.devflow/runs/${runId}/inside-run/.git`,
        ]) {
          expect(message).toContain(`removed a nested git repository at ${removed}`);
        }
        // The trailers still close the message, where retries look for them.
        expect(
          git(remote, "log", "-1", "--format=%(trailers:key=Devflow-Run,valueonly)", branch),
        ).toBe(runId);
      },
      180_000,
    );
  },
);

describe("an attempt's commit is limited in files (process runner)", () => {
  let h: Harness;
  let small: Harness;
  const limits = readSettings({ DEVFLOW_MAX_COMMIT_FILES: "25" }).commitLimits;
  beforeAll(async () => {
    h = await planterHarness(createProcessRunner({ killGraceMs: 500 }));
    small = await planterHarness(createProcessRunner({ killGraceMs: 500 }), {
      commitLimits: limits,
    });
  }, 120_000);
  afterAll(async () => {
    await h.stop();
    await small.stop();
  });

  it("past the limit set with DEVFLOW_MAX_COMMIT_FILES the attempt fails saying how many files, the limit and the setting; nothing is pushed", async () => {
    const remote = createBareRemote();
    const before = git(remote, "rev-parse", "main");
    const { runId } = await small.start({ cloneUrl: remote, requirements: orders({ files: 40 }) });
    const failed = await small.waitForState(runId, "failed", 90_000);
    expect(await transcriptsOf(small, runId)).toContain("planted 40 files under bulk/");
    expect(failed.run.failure).toMatchObject({ code: "commit_too_large" });
    // The 40 files and the artifact with its Markdown.
    expect(failed.run.failure?.message).toContain("would change 42 files");
    expect(failed.run.failure?.message).toContain("more than the 25");
    expect(failed.run.failure?.message).toContain("DEVFLOW_MAX_COMMIT_FILES");
    expect(git(remote, "branch", "--list")).not.toContain(failed.run.branch);
    expect(git(remote, "rev-parse", "main")).toBe(before);
  }, 120_000);

  it("a tree of 20,000 new files fails at the default limit, counted exactly", async () => {
    const remote = createBareRemote();
    const { runId } = await h.start({ cloneUrl: remote, requirements: orders({ files: 20_000 }) });
    const failed = await h.waitForState(runId, "failed", 150_000);
    expect(failed.run.failure).toMatchObject({ code: "commit_too_large" });
    expect(failed.run.failure?.message).toContain("would change 20002 files");
    expect(failed.run.failure?.message).toContain(
      `more than the ${readSettings({}).commitLimits.maxFiles}`,
    );
    expect(failed.run.failure?.message).toContain("DEVFLOW_MAX_COMMIT_FILES");
    expect(git(remote, "branch", "--list")).not.toContain(failed.run.branch);
  }, 180_000);
});
