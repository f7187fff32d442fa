import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { and, eq } from "drizzle-orm";
import pino from "pino";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConsole } from "../../src/console/create-console.ts";
import { runnerExecutions, runPhases } from "../../src/db/schema/index.ts";
import { type GitHubServer, startGitHubServer } from "../../src/github/start-github-server.ts";
import { browserUnavailable, launchChromium } from "../helpers/browser.ts";
import { type FakeGitHubOAuth, startFakeGitHubOAuth } from "../helpers/fake-github-oauth.ts";
import { appCredentials, freePort } from "../helpers/github-fixtures.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";

const skip = browserUnavailable();
if (skip !== undefined) console.warn(`test/console/console.test.ts: ${skip}`);

/** Where the pages' screenshots go: look at them at 1280×800 and at a phone's width. */
const SHOTS = join(process.cwd(), ".data", "test-output", "console");
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const INJECTED = "<script>window.__pwned = true</script>";

let h: Harness;
let oauth: FakeGitHubOAuth;
let server: GitHubServer;
let browser: Browser;
let base: string;
const runs = { shown: "", hidden: "", done: "", renamed: "" };

/** Approves each gate the run reaches until it ends. */
async function drive(runId: string) {
  for (let gates = 0; gates < 10; gates++) {
    const status = await h.waitForStatus(
      runId,
      (s) =>
        ["completed", "failed", "aborted"].includes(s.run.state) ||
        s.approvals.some((a) => a.state === "pending"),
      `run ${runId} at a gate or ended`,
    );
    const pending = status.approvals.find((approval) => approval.state === "pending");
    if (pending === undefined) return status;
    await h.approve(runId, pending.gateKey);
  }
  throw new Error("too many gates");
}

/** A browser context of its own (its own cookies), with page errors collected. */
async function newPage(
  viewport = DESKTOP,
): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("dialog", (dialog) => {
    errors.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return { context, page, errors };
}

async function signIn(page: Page, login: string) {
  oauth.signInAs = login;
  await page.goto(`${base}/console`);
  await page.getByRole("link", { name: "Sign in with GitHub" }).click();
  await page.waitForURL(`${base}/console`);
  await expect(page.locator("header .who span").textContent()).resolves.toBe(login);
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

beforeAll(async () => {
  if (skip !== undefined) return;
  mkdirSync(SHOTS, { recursive: true });
  h = await startHarness({ jobs: { heartbeatMs: 200 } });
  oauth = await startFakeGitHubOAuth({
    alice: { id: 1, repositories: { "octo/widgets": "write" } },
    mallory: { id: 2, repositories: { "octo/widgets": "read" } },
  });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const log = pino({ level: process.env.DEVFLOW_TEST_LOG ?? "silent" });
  server = await startGitHubServer({
    credentials: appCredentials(),
    port,
    host: "127.0.0.1",
    db: h.db,
    log,
    console: createConsole({
      db: h.db,
      engine: h.engine,
      registry: h.devflow.registry,
      limits: h.engine.deps.limits,
      log,
      github: {
        baseUrl: oauth.baseUrl,
        clientId: oauth.clientId,
        clientSecret: oauth.clientSecret,
      },
      publicUrl: base,
      sessionSecret: "a-console-session-secret-for-these-tests-only",
      pollMs: 200,
    }),
  });
  browser = await launchChromium();
  runs.done = (
    await h.start({ repository: "octo/widgets", issueTitle: "Document the widget API" })
  ).runId;
  await drive(runs.done);
  runs.shown = (
    await h.start({
      repository: "octo/widgets",
      issueTitle: `Add a widget ${INJECTED}`,
      requirements: `Please add a widget.\n\n${INJECTED}\n<img src=x onerror="window.__pwned = true">`,
    })
  ).runId;
  runs.hidden = (await h.start({ repository: "secret/vault", issueTitle: "A private run" })).runId;
  // A run of the repository that had this name before a rename (another GitHub id).
  runs.renamed = (
    await h.start({ repository: "octo/widgets", repositoryId: 4242, issueTitle: "Before" })
  ).runId;
  await h.waitForGate(runs.shown, "spec_approved");
  // What an agent printed is untrusted too: a line of it that is HTML.
  const [spec] = await h.db
    .select({ id: runnerExecutions.id, captured: runnerExecutions.lastCaptureSeq })
    .from(runnerExecutions)
    .innerJoin(runPhases, eq(runPhases.id, runnerExecutions.phaseId))
    .where(and(eq(runnerExecutions.runId, runs.shown), eq(runPhases.phaseKey, "spec")));
  await h.engine.appendTranscript(spec?.id ?? "", [
    { seq: (spec?.captured ?? 0) + 1, text: `agent says: ${INJECTED}\n` },
  ]);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await oauth?.close();
  await h?.stop();
});

describe.skipIf(skip !== undefined)("the console, in Chromium", () => {
  it("without a session, every page leads to signing in, and streams and actions are refused", async () => {
    const { context, page } = await newPage();
    await page.goto(`${base}/console/runs/${runs.shown}`);
    expect(new URL(page.url()).pathname).toBe("/console/sign-in");
    expect(new URL(page.url()).searchParams.get("next")).toBe(`/console/runs/${runs.shown}`);
    await expect(page.getByRole("link", { name: "Sign in with GitHub" }).isVisible()).resolves.toBe(
      true,
    );
    await expect(page.locator("body").textContent()).resolves.toContain(`${base}/console/callback`);
    await shot(page, "sign-in");
    const stream = await fetch(`${base}/console/stream/runs/${runs.shown}`);
    expect(stream.status).toBe(401);
    const fragment = await fetch(`${base}/console/runs/${runs.shown}?fragment=live`);
    expect(fragment.status).toBe(401);
    const action = await fetch(`${base}/console/runs/${runs.shown}/pause`, {
      method: "POST",
      body: new URLSearchParams({ csrf: "x" }),
    });
    expect(action.status).toBe(401);
    const forged = await fetch(`${base}/console`, {
      headers: { cookie: "devflow_session=eyJmb3JnZWQiOnRydWV9" },
      redirect: "manual",
    });
    expect(forged.status).toBe(302);
    const headers = (await fetch(`${base}/console/sign-in`)).headers;
    expect(headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(headers.get("content-security-policy")).toContain("script-src 'self';");
    await context.close();
  });

  it("signs in through GitHub and lists only the runs of repositories the person can read", async () => {
    const { context, page, errors } = await newPage();
    await signIn(page, "alice");
    const cookies = await context.cookies();
    expect(cookies.find((cookie) => cookie.name === "devflow_session")).toMatchObject({
      httpOnly: true,
      sameSite: "Lax",
      path: "/console",
    });
    const table = page.locator("#runs-table");
    await expect(table.textContent()).resolves.toContain("octo/widgets#");
    await expect(table.textContent()).resolves.not.toContain("secret/vault");
    await expect(table.textContent()).resolves.toContain(INJECTED);
    await shot(page, "runs");
    // The hidden run's page is no more reachable than its line.
    await page.goto(`${base}/console/runs/${runs.hidden}`);
    await expect(page.locator("h1").textContent()).resolves.toBe("No such run");
    // Nor is a run of another repository that once had a name alice can read now.
    await page.goto(`${base}/console/runs/${runs.renamed}`);
    await expect(page.locator("h1").textContent()).resolves.toBe("No such run");
    // (Chromium logs the 404 that page answered with.)
    errors.length = 0;
    await page.goto(`${base}/console?state=completed`);
    await expect(page.locator("#runs-table tbody tr").count()).resolves.toBe(1);
    const phone = await context.newPage();
    await phone.setViewportSize(PHONE);
    await phone.goto(`${base}/console`);
    await shot(phone, "runs-phone");
    expect(errors).toEqual([]);
    await context.close();
  });

  it("shows a run: phases, attempts, gates, artifacts as Markdown, sessions, and everything from the run as text", async () => {
    const { context, page, errors } = await newPage();
    await signIn(page, "alice");
    await page.goto(`${base}/console/runs/${runs.done}`);
    await expect(page.locator("#run-live .summary").textContent()).resolves.toContain("completed");
    await expect(page.locator("#gates").textContent()).resolves.toContain("reviewer");
    await page.locator("details.artifact summary").first().click();
    await expect(
      page.locator("details.artifact .markdown h1, details.artifact .markdown h2").count(),
    ).resolves.toBeGreaterThan(0);
    await shot(page, "run-completed");
    await page.goto(`${base}/console/runs/${runs.shown}`);
    await expect(page.locator("main > h1").textContent()).resolves.toContain(INJECTED);
    await expect(page.locator("pre.requirements").textContent()).resolves.toContain(INJECTED);
    await expect(page.locator("pre.transcript").last().textContent()).resolves.toContain(
      `agent says: ${INJECTED}`,
    );
    await page.locator("details.prompt summary").first().click();
    await expect(page.locator("details.prompt pre").first().textContent()).resolves.toContain(
      "Please add a widget.",
    );
    await expect(page.locator("script:not([src])").count()).resolves.toBe(0);
    await expect(page.locator("img").count()).resolves.toBe(0);
    await expect(page.evaluate("window.__pwned")).resolves.toBeUndefined();
    const issue = (await h.status(runs.shown)).run.issueNumber;
    await expect(page.getByRole("link", { name: "Issue" }).getAttribute("href")).resolves.toBe(
      `${oauth.baseUrl.replace("/api/v3", "")}/octo/widgets/issues/${issue}`,
    );
    await shot(page, "run");
    expect(errors).toEqual([]);
    await context.close();
  });

  it("streams a slow agent's transcript while it works, and a writer pauses and resumes the run", async () => {
    const { context, page, errors } = await newPage();
    await signIn(page, "alice");
    // The spendy scenario works for 30 s, printing a line every 100 ms; its second attempt is quick.
    const { runId } = await h.start({
      repository: "octo/widgets",
      issueTitle: "Make the widget faster",
      scenarios: { spec: ["spendy", "ok"] },
    });
    await page.goto(`${base}/console/runs/${runId}`);
    await page.evaluate("window.__stayed = true");
    const transcript = page.locator("pre.transcript").first();
    await transcript.waitFor();
    const lines = async () => ((await transcript.textContent()) ?? "").split("\n").length;
    await expect.poll(lines, { timeout: 20_000 }).toBeGreaterThan(5);
    const seen = await lines();
    await expect.poll(lines, { timeout: 20_000 }).toBeGreaterThan(seen + 5);
    // Grown in place: the page was never reloaded.
    await expect(page.evaluate("window.__stayed")).resolves.toBe(true);
    await shot(page, "run-live");
    const phone = await context.newPage();
    await phone.setViewportSize(PHONE);
    await phone.goto(`${base}/console/runs/${runId}`);
    await shot(phone, "run-live-phone");
    await phone.close();
    await page.getByRole("button", { name: "Pause" }).click();
    await expect(page.locator(".notice").textContent()).resolves.toBe("The run is paused.");
    expect((await h.status(runId)).run.state).toBe("paused");
    await expect(page.locator("#run-live .summary .badge").first().textContent()).resolves.toBe(
      "paused",
    );
    await page.getByRole("button", { name: "Resume" }).click();
    await expect(page.locator(".notice").textContent()).resolves.toBe("The run resumed.");
    // The page follows the run by itself to its next gate.
    await expect
      .poll(() => page.locator("#run-live .summary .badge").first().textContent(), {
        timeout: 30_000,
      })
      .toBe("awaiting approval");
    const events = (await h.events(runId)).map((event) => event.type);
    expect(events).toEqual(expect.arrayContaining(["run.paused", "run.resumed"]));
    expect(errors).toEqual([]);
    await context.close();
  });

  it("refuses an action to a person without write access, and a form without the session's token", async () => {
    const reader = await newPage();
    await signIn(reader.page, "mallory");
    await reader.page.goto(`${base}/console/runs/${runs.shown}`);
    await expect(reader.page.locator(".refusal").first().textContent()).resolves.toContain(
      "only people with write access to this repository can steer devflow runs",
    );
    await expect(reader.page.getByRole("button", { name: "Pause" }).count()).resolves.toBe(0);
    await shot(reader.page, "run-reader");
    // Sent anyway, with the reader's own valid token: the server refuses it.
    const refused = (await reader.page.evaluate(`(async () => {
      const csrf = document.querySelector('input[name="csrf"]').value;
      const response = await fetch("/console/runs/${runs.shown}/pause", {
        method: "POST",
        body: new URLSearchParams({ csrf }),
      });
      return { status: response.status, text: await response.text() };
    })()`)) as { status: number; text: string };
    expect(refused.status).toBe(403);
    expect(refused.text).toContain("You may not pause this run");
    expect((await h.status(runs.shown)).run.state).toBe("awaiting_approval");
    await reader.context.close();

    const writer = await newPage();
    await signIn(writer.page, "alice");
    await writer.page.goto(`${base}/console/runs/${runs.shown}`);
    const forged = await writer.page.evaluate(`fetch("/console/runs/${runs.shown}/pause", {
      method: "POST",
      body: new URLSearchParams({ csrf: "not-the-token" }),
    }).then((response) => response.status)`);
    expect(forged).toBe(403);
    expect((await h.status(runs.shown)).run.state).toBe("awaiting_approval");
    await writer.context.close();
  });

  it("shows queues, workers, charts and failed jobs, and a writer retries one", async () => {
    // A run's job that failed its only try.
    const jobId =
      (await h.devflow.boss.send(
        "run-cleanup",
        { runId: runs.done, reason: "console test", executionIds: [] },
        { retryLimit: 0, startAfter: 3600 },
      )) ?? "";
    await h.devflow.boss.fail("run-cleanup", jobId, { message: "the runner host went away" });
    expect(await h.engine.listFailedJobs({ ids: [jobId] })).toHaveLength(1);
    const { context, page, errors } = await newPage();
    await signIn(page, "alice");
    await page.goto(`${base}/console/queues`);
    await expect(page.locator("#failed-jobs").textContent()).resolves.toContain(
      "the runner host went away",
    );
    await expect(page.locator("#job-queues").textContent()).resolves.toContain("phase-execute");
    await expect(page.locator("#workers").textContent()).resolves.toContain("ago");
    await expect.poll(() => page.locator(".chart canvas").count()).toBe(3);
    await shot(page, "queues");
    const phone = await context.newPage();
    await phone.setViewportSize(PHONE);
    await phone.goto(`${base}/console/queues`);
    await expect.poll(() => phone.locator(".chart canvas").count()).toBe(3);
    await shot(phone, "queues-phone");
    await page.locator("#failed-jobs").getByRole("button", { name: "Retry" }).click();
    await expect(page.locator(".notice").textContent()).resolves.toBe("The job was queued again.");
    expect(await h.engine.listFailedJobs({ ids: [jobId] })).toEqual([]);
    // The runs page once every run above is there.
    await page.goto(`${base}/console`);
    await shot(page, "runs-all");
    expect(errors).toEqual([]);
    await context.close();
  });
});
