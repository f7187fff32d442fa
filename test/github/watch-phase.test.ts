import nock from "nock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GitHubServer } from "../../src/github/start-github-server.ts";
import { fakeGitHub } from "../helpers/fake-github.ts";
import { createBareRemote } from "../helpers/git-fixtures.ts";
import { labeledPayload, sendWebhook } from "../helpers/github-fixtures.ts";
import type { Harness } from "../helpers/harness.ts";
import { startWebhookHarness } from "../helpers/webhook-harness.ts";

/** Short, so a test sees several updates; production's is PROGRESS_EVERY_MS (20 s). */
const EVERY_MS = 2_000;
let h: Harness;
let server: GitHubServer;
let stop: () => Promise<void>;

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  ({ h, server, stop } = await startWebhookHarness({
    waitTimeoutMs: 60_000,
    // The spendy agent works 30 s: its attempts may take longer than that.
    jobs: { showRunningAfterMs: 1_000, progressEveryMs: EVERY_MS, attemptTimeoutSeconds: 120 },
  }));
});
afterAll(async () => {
  await stop?.();
  nock.cleanAll();
  nock.enableNetConnect();
});

interface Seen {
  at: number;
  status: string;
  summary: string;
  text: string;
}

describe("a phase you can watch", () => {
  it("a slow agent's check shows its elapsed time, attempt, cost so far and latest steps, brought up to date no more often than the interval; before the first commit the status comment does", async () => {
    const github = fakeGitHub();
    const label = async (repository: string, scenarios: string) => {
      const body = `Add a widget.\n<!-- devflow-scripted: ${scenarios} -->`;
      const sent = await sendWebhook(
        server.port,
        "issues",
        labeledPayload({ issue: 1, repository, cloneUrl: createBareRemote(), body }),
      );
      expect(sent.status).toBe(200);
      return h.waitFor(`the run on ${repository}`, async () => {
        const run = await h.engine.findRun({ repository, issueNumber: 1 });
        return run?.id;
      });
    };
    // A first phase that works a while: no commit yet for a check to sit on.
    const first = await label("octo/first", '{"spec":"spendy"}');
    // A later phase that works a while, after the spec's commit.
    const later = await label("octo/watch", '{"spec":"ok","phase_plan":"spendy"}');
    await h.approve(later, "spec_approved");

    const status = await h.waitFor(
      "the status comment saying what the first phase does",
      async () =>
        github.published.find(
          (entry) =>
            entry.body.startsWith(`<!-- devflow-status:${first} -->`) &&
            entry.body.includes("so far."),
        ),
    );
    expect(status.body).toMatch(/Now: `spec`, attempt 1, under a minute, about \$\d+\.\d so far\./);
    await h.engine.abortRun({ runId: first, reason: "seen enough" });

    // Every write of the plan's check, with when it reached GitHub.
    const seen: Seen[] = [];
    let read = 0;
    const collect = () => {
      for (; read < github.published.length; read += 1) {
        const entry = github.published[read];
        if (entry === undefined || entry.repository !== "octo/watch") continue;
        if (entry.kind !== "check" && entry.kind !== "check-update") continue;
        const check = JSON.parse(entry.body) as {
          name: string;
          status: string;
          output: { summary: string; text?: string };
        };
        if (check.name !== "devflow / phase_plan") continue;
        seen.push({
          at: Date.now(),
          status: check.status,
          summary: check.output.summary,
          text: check.output.text ?? "",
        });
      }
    };
    await h.waitFor("three writes of the running plan's check, two with its cost", async () => {
      collect();
      const running = seen.filter((write) => write.status === "in_progress");
      const priced = running.filter((write) => write.summary.includes("so far"));
      return (running.length >= 3 && priced.length >= 2) || undefined;
    });
    await h.engine.abortRun({ runId: later, reason: "seen enough" });

    const running = seen.filter((write) => write.status === "in_progress");
    // (The first may come before the agent has reported any cost.)
    for (const write of running) {
      expect(write.summary).toMatch(/Running for \d+ s \(attempt 1\)(, \$\d+\.\d\d so far)?\./);
    }
    expect(running.at(-1)?.summary).toMatch(/\$\d+\.\d\d so far\./);
    // The agent's latest steps, from its transcript as it grows.
    expect(running.at(-1)?.text).toContain("What the agent is doing now");
    expect(running.at(-1)?.text).toMatch(/scripted agent: step \d+: adding to SPENDY_WORK\.md/);
    // Its cost grows from one update to the next.
    const costs = running
      .map((write) => /\$(\d+\.\d\d) so far/.exec(write.summary)?.[1])
      .filter((cost) => cost !== undefined)
      .map(Number);
    expect(costs.at(-1)).toBeGreaterThan(costs[0] ?? 0);
    // Never more often than the interval (a little slack for timers).
    for (let i = 1; i < running.length; i += 1) {
      const gap = (running[i]?.at ?? 0) - (running[i - 1]?.at ?? 0);
      expect(gap, `update ${i} came ${gap} ms after the one before`).toBeGreaterThanOrEqual(
        EVERY_MS - 500,
      );
    }
  }, 120_000);
});
