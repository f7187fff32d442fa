import { readFileSync } from "node:fs";
import { join } from "node:path";
import { and, eq, isNull } from "drizzle-orm";
import nock from "nock";
import pino from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  runBindings,
  runs,
  webhookDeliveries,
  workflowTemplates,
} from "../../src/db/schema/index.ts";
import type { GitHubServer } from "../../src/github/start-github-server.ts";
import { createInProcessRunner } from "../../src/runner/in-process-runner.ts";
import type { Runner, RunnerRequest } from "../../src/runner/runner.ts";
import { type FakeGitHub, fakeGitHub } from "../helpers/fake-github.ts";
import { createBareRemote } from "../helpers/git-fixtures.ts";
import { appCredentials, labeledPayload, sendWebhook } from "../helpers/github-fixtures.ts";
import type { Harness } from "../helpers/harness.ts";
import { startWebhookHarness } from "../helpers/webhook-harness.ts";

const _log = pino({ level: process.env.DEVFLOW_TEST_LOG ?? "silent" });
const _credentials = appCredentials();
const REPO = "octo/gadgets";
const TEMPLATES = ".github/devflow/templates";
const PERSONAS = ".github/devflow/personas";

/** The in-process runner, remembering what each execution was asked (its prompt is in its io dir). */
function promptRecordingRunner(): Runner & { requests: RunnerRequest[] } {
  const inner = createInProcessRunner();
  const requests: RunnerRequest[] = [];
  return {
    ...inner,
    requests,
    start(request) {
      requests.push(request);
      return inner.start(request);
    },
  };
}

let h: Harness;
let runner: ReturnType<typeof promptRecordingRunner>;
let server: GitHubServer;
let stop: () => Promise<void>;
let remote: string;
let github: FakeGitHub;

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  runner = promptRecordingRunner();
  // Files change between deliveries here: nothing is read from a cache.
  ({ h, server, stop } = await startWebhookHarness({
    runner,
    waitTimeoutMs: 90_000,
    readCacheSeconds: 0,
  }));
});
afterAll(async () => {
  await stop?.();
  nock.cleanAll();
  nock.enableNetConnect();
});
beforeEach(() => {
  nock.cleanAll();
  remote = createBareRemote();
  github = fakeGitHub();
});

let issue = 500;

function label(name: string, options: { repository?: string; id?: number; body?: string } = {}) {
  issue += 1;
  const payload = labeledPayload({
    issue,
    repository: options.repository ?? REPO,
    cloneUrl: remote,
    label: name,
    ...(options.body === undefined ? {} : { body: options.body }),
  });
  if (options.id !== undefined) payload.repository.id = options.id;
  return sendWebhook(server.port, "issues", payload);
}

const processed = (id: string) =>
  h.waitFor(`delivery ${id} processed`, async () => {
    const [row] = await h.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id));
    return row?.processedAt ? row : undefined;
  });

/** The REST calls so far, paths decoded (Octokit sends `.github%2Fdevflow%2F…`). */
const calls = () => github.calls.map((call) => decodeURIComponent(call));

/** The prompts the agent got for `phaseKey` of `runId`, in order of execution. */
function prompts(runId: string, phaseKey: string): string[] {
  return runner.requests
    .filter((request) => request.runId === runId && request.phaseKey === phaseKey)
    .map((request) => readFileSync(join(request.ioDir, "prompt.md"), "utf8"));
}

const TRIAGE = `name: triage
version: 1
description: Assess a report, then fix it.
roles:
  triager:
    persona: triager@1
  implementer:
    persona: implementer@1
phases:
  - key: assess
    title: Assessment
    role: triager
    artifact: dev/review@1
    gate: assessment_approved
    instructions: Assess the report.
  - key: fix
    title: Fix
    role: implementer
    artifact: dev/implementation@1
    instructions: Fix what the assessment found.
`;

const triager = (words: string) => `---
name: triager
version: 1
description: Sorts reports for this repository.
---

${words}
`;

describe("templates from the repository", () => {
  it("a label devflow:<name> runs the repository's own template with its own persona, pinned: a later edit of the files changes nothing for the run", async () => {
    github.repoFiles[`${TEMPLATES}/triage@1.yml`] = TRIAGE;
    github.repoFiles[`${PERSONAS}/triager@1.md`] = triager("You triage gadget reports (tri-7f3a).");
    const sent = await label("devflow:triage");
    const delivery = await processed(sent.id);
    expect(delivery.outcome).toMatch(/^started run/);
    const runId = delivery.runId ?? "";
    const gate = await h.waitForGate(runId, "assessment_approved");
    expect(calls()).toEqual(
      expect.arrayContaining([
        `GET /repos/${REPO}/contents/${TEMPLATES}/triage@1.yml`,
        `GET /repos/${REPO}/contents/${PERSONAS}/triager@1.md`,
      ]),
    );
    // The built-in persona it names is not looked for in the repository.
    expect(calls().filter((call) => call.includes("implementer"))).toEqual([]);
    const [first] = prompts(runId, "assess");
    expect(first).toContain("You triage gadget reports (tri-7f3a).");
    expect(first).toContain("# Phase: Assessment");

    // Stored scoped to the repository, and pinned by the run.
    const [run] = await h.db.select().from(runs).where(eq(runs.id, runId));
    const [stored] = await h.db
      .select()
      .from(workflowTemplates)
      .where(eq(workflowTemplates.id, run?.templateId ?? ""));
    expect(run).toMatchObject({ templateName: "triage", templateVersion: 1 });
    expect(stored).toMatchObject({
      name: "triage",
      repositoryId: 77,
      hash: run?.templateHash,
      source: `${REPO}:${TEMPLATES}/triage@1.yml`,
    });
    expect(
      (await h.db.select().from(runBindings).where(eq(runBindings.runId, runId))).find(
        (binding) => binding.role === "triager",
      ),
    ).toMatchObject({ persona: "triager@1", personaBody: "You triage gadget reports (tri-7f3a)." });

    // Someone edits the files; the run's next attempt still prompts with what it started with.
    github.repoFiles[`${PERSONAS}/triager@1.md`] = triager("Edited later (tri-edit).");
    github.repoFiles[`${TEMPLATES}/triage@1.yml`] = TRIAGE.replace("Assess the report.", "Other.");
    await h.decide(runId, gate.id, "request_changes");
    await h.approve(runId, "assessment_approved");
    const done = await h.waitForState(runId, "completed", 60_000);
    expect(done.phases.map((phase) => phase.phaseKey)).toEqual(["assess", "fix"]);
    const again = prompts(runId, "assess");
    expect(again).toHaveLength(2);
    expect(again[1]).toContain("You triage gadget reports (tri-7f3a).");
    expect(again[1]).not.toContain("tri-edit");
    expect(prompts(runId, "fix")[0]).toContain("You change the repository to meet");

    // The edited template is another row of the same repository; the first stays as it was.
    const next = await processed((await label("devflow:triage")).id);
    const [nextRun] = await h.db
      .select()
      .from(runs)
      .where(eq(runs.id, next.runId ?? ""));
    expect(nextRun?.templateHash).not.toBe(run?.templateHash);
    const rows = await h.db
      .select()
      .from(workflowTemplates)
      .where(and(eq(workflowTemplates.repositoryId, 77), eq(workflowTemplates.name, "triage")));
    expect(rows.map((row) => row.id).sort()).toEqual([run?.templateId, nextRun?.templateId].sort());
    await h.waitForGate(next.runId ?? "", "assessment_approved");
    expect(prompts(next.runId ?? "", "assess")[0]).toContain("Edited later (tri-edit).");
  });

  it("one repository's template is not another's, and a repository's file cannot replace a built-in template", async () => {
    github.repoFiles[`${TEMPLATES}/triage@1.yml`] = TRIAGE;
    github.repoFiles[`${PERSONAS}/triager@1.md`] = triager("Same words, two repositories.");
    // Two repositories with the same file: each run pins a row of its own repository.
    const here = await processed((await label("devflow:triage")).id);
    const there = await processed(
      (await label("devflow:triage", { repository: "octo/other", id: 78 })).id,
    );
    const pinned = await Promise.all(
      [here, there].map(async (delivery) => {
        const [run] = await h.db
          .select()
          .from(runs)
          .where(eq(runs.id, delivery.runId ?? ""));
        const [row] = await h.db
          .select()
          .from(workflowTemplates)
          .where(eq(workflowTemplates.id, run?.templateId ?? ""));
        return row;
      }),
    );
    expect(pinned.map((row) => row?.repositoryId)).toEqual([77, 78]);
    expect(pinned[0]?.hash).toBe(pinned[1]?.hash);
    expect(calls()).toContain(`GET /repos/octo/other/contents/${TEMPLATES}/triage@1.yml`);

    // A repository's bugfix@1 is never read: the label runs the built-in one.
    github.repoFiles[`${TEMPLATES}/bugfix@1.yml`] = TRIAGE.replace("name: triage", "name: bugfix");
    const builtin = await processed((await label("devflow:bugfix")).id);
    expect(builtin.outcome).toMatch(/^started run/);
    expect(calls().filter((call) => call.includes("bugfix"))).toEqual([]);
    const [run] = await h.db
      .select()
      .from(runs)
      .where(eq(runs.id, builtin.runId ?? ""));
    const [row] = await h.db
      .select()
      .from(workflowTemplates)
      .where(
        and(
          eq(workflowTemplates.id, run?.templateId ?? ""),
          isNull(workflowTemplates.repositoryId),
        ),
      );
    expect(row).toMatchObject({ name: "bugfix", source: "templates/bugfix@1.yml" });
  });

  it("the repository's config may make its own template what a plain devflow label starts", async () => {
    github.repoConfig = "template: triage@1\n";
    github.repoFiles[`${TEMPLATES}/triage@1.yml`] = TRIAGE;
    github.repoFiles[`${PERSONAS}/triager@1.md`] = triager("Configured (tri-cfg).");
    const started = await processed((await label("devflow")).id);
    const [run] = await h.db
      .select()
      .from(runs)
      .where(eq(runs.id, started.runId ?? ""));
    expect(run).toMatchObject({ templateName: "triage", templateVersion: 1 });
    await h.waitForGate(started.runId ?? "", "assessment_approved");
    expect(prompts(started.runId ?? "", "assess")[0]).toContain("Configured (tri-cfg).");
  });

  it("an invalid repository template is reported on the issue with its JSON pointers, and starts nothing", async () => {
    github.repoFiles[`${TEMPLATES}/broken@1.yml`] = `name: broken
version: 1
description: Not quite.
roles:
  triager:
    persona: sorter@1
phases:
  - key: assess
    title: Assessment
    role: ghost
    artifact: dev/review@1
  - key: assess
    title: Again
    role: triager
    artifact: dev/nothing@1
    gate: Not A Gate
`;
    github.repoFiles[`${PERSONAS}/sorter@1.md`] =
      "---\nname: ../../sorter\nversion: 1\ndescription: x\n---\nbody\n";
    const sent = await label("devflow:broken");
    expect((await processed(sent.id)).outcome).toBe("refused: invalid repository template");
    expect(github.comments).toHaveLength(1);
    const said = github.comments[0]?.body ?? "";
    expect(said).toContain("`.github/devflow/templates/broken@1.yml` on `main` is invalid");
    expect(said).toContain('/phases/1/gate: must match pattern "^[a-z][a-z0-9_]{0,39}$"');
    expect(await h.db.select().from(runs).where(eq(runs.issueNumber, issue))).toEqual([]);

    // Valid against the schema, wrong in what it names: the template's and the persona's errors.
    github.repoFiles[`${TEMPLATES}/broken@1.yml`] = (
      github.repoFiles[`${TEMPLATES}/broken@1.yml`] ?? ""
    ).replace("    gate: Not A Gate\n", "");
    const again = await label("devflow:broken");
    expect((await processed(again.id)).outcome).toBe("refused: invalid repository template");
    const listed = github.comments[1]?.body ?? "";
    expect(listed).toContain("files on `main` are invalid");
    expect(listed).toContain("- `/phases/0/role: role ghost is not bound in /roles`");
    expect(listed).toContain("- `/phases/1/key: duplicate assess`");
    expect(listed).toContain("- `/phases/1/artifact: unknown schema dev/nothing@1`");
    expect(listed).toContain("`.github/devflow/personas/sorter@1.md`:");
    expect(listed).toContain('- `/name: must match pattern "^[a-z][a-z0-9-]{0,39}$"`');
    expect(await h.db.select().from(runs).where(eq(runs.issueNumber, issue))).toEqual([]);
  });

  it("what a label or a file cannot do: name a path, be huge, bring too many personas, or pick an unknown agent", async () => {
    const before = github.calls.length;
    const climbing = await label("devflow:../../secrets@1");
    expect((await processed(climbing.id)).outcome).toBe("refused: unknown_template");
    expect(github.comments.at(-1)?.body).toContain(
      "unknown workflow template `../../secrets@1`: use one of `bugfix@1`, `development@1`",
    );
    expect(
      calls()
        .slice(before)
        .filter((call) => call.includes("/contents/.github/devflow/")),
    ).toEqual([]);

    const missing = await label("devflow:nowhere");
    expect((await processed(missing.id)).outcome).toBe("refused: unknown_template");
    expect(github.comments.at(-1)?.body).toContain(
      "or add `.github/devflow/templates/nowhere@1.yml` on `main`",
    );

    github.repoFiles[`${TEMPLATES}/huge@1.yml`] =
      `${TRIAGE.replace("triage", "huge")}# ${"x".repeat(70_000)}\n`;
    const huge = await label("devflow:huge");
    expect((await processed(huge.id)).outcome).toBe("refused: invalid repository template");
    expect(github.comments.at(-1)?.body).toContain("- `/: larger than 64 KiB`");

    const roles = Array.from({ length: 9 }, (_, n) => `  r${n}:\n    persona: p${n}@1\n`).join("");
    github.repoFiles[`${TEMPLATES}/crowd@1.yml`] = TRIAGE.replace("triage", "crowd").replace(
      /roles:\n[\s\S]*?phases:/,
      `roles:\n${roles}  triager:\n    persona: implementer@1\n  implementer:\n    persona: implementer@1\nphases:`,
    );
    const crowd = await label("devflow:crowd");
    expect((await processed(crowd.id)).outcome).toBe("refused: invalid repository template");
    expect(github.comments.at(-1)?.body).toContain(
      "- `/roles: names 9 personas of this repository, at most 8`",
    );
    expect(calls().filter((call) => /personas\/p\d@1/.test(call))).toEqual([]);

    github.repoFiles[`${TEMPLATES}/rogue@1.yml`] = TRIAGE.replace("triage", "rogue").replace(
      "    persona: implementer@1\n",
      "    persona: implementer@1\n    agent: rm-rf\n",
    );
    github.repoFiles[`${PERSONAS}/triager@1.md`] = triager("Hi.");
    const rogue = await label("devflow:rogue");
    expect((await processed(rogue.id)).outcome).toBe("refused: invalid repository template");
    expect(github.comments.at(-1)?.body).toContain(
      "- `/roles/implementer/agent: unknown agent rm-rf",
    );
  });
});

describe("bugfix@1", () => {
  it("runs plan → implement, with no spec phase: a plan gate, then an implementation gate", async () => {
    const sent = await label("devflow:bugfix");
    const runId = (await processed(sent.id)).runId ?? "";
    const plan = await h.waitForGate(runId, "plan_approved");
    expect(plan.state).toBe("pending");
    expect(prompts(runId, "plan")[0]).toContain("You investigate bugs before anyone changes code.");
    await h.approve(runId, "plan_approved");
    await h.approve(runId, "implementation_approved");
    const done = await h.waitForState(runId, "completed", 60_000);
    expect(done.run).toMatchObject({ templateName: "bugfix", templateVersion: 1 });
    expect(done.phases.map((phase) => [phase.phaseKey, phase.state])).toEqual([
      ["plan", "completed"],
      ["implement", "completed"],
    ]);
    expect(done.approvals.map((approval) => [approval.gateKey, approval.state])).toEqual([
      ["plan_approved", "approved"],
      ["implementation_approved", "approved"],
    ]);
    const report = await h.waitFor("the report comment", async () =>
      github.published.find(
        (entry) =>
          entry.kind === "comment" && entry.body.startsWith(`<!-- devflow-report:${runId} -->`),
      ),
    );
    expect(report.body).toContain("✅ completed");
    expect(report.body).not.toMatch(/\bspec\b/);
  });
});
