import { eq } from "drizzle-orm";
import nock from "nock";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { webhookDeliveries } from "../../src/db/schema/index.ts";
import type { GitHubServer } from "../../src/github/start-github-server.ts";
import { type FakeGitHub, fakeGitHub } from "../helpers/fake-github.ts";
import { createBareRemote } from "../helpers/git-fixtures.ts";
import { labeledPayload, sendWebhook } from "../helpers/github-fixtures.ts";
import type { Harness } from "../helpers/harness.ts";
import { startWebhookHarness } from "../helpers/webhook-harness.ts";

const REPO = "octo/eyes";
/** Two devflow processes on one database, each with its own webhook endpoint. */
let one: { h: Harness; server: GitHubServer; stop(): Promise<void> };
let two: { h: Harness; server: GitHubServer; stop(): Promise<void> };
let remote: string;
let github: FakeGitHub;

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  one = await startWebhookHarness({ waitTimeoutMs: 60_000 });
  two = await startWebhookHarness({ databaseUrl: one.h.databaseUrl, waitTimeoutMs: 60_000 });
});
afterAll(async () => {
  await two?.stop();
  await one?.stop();
  nock.cleanAll();
  nock.enableNetConnect();
});
beforeEach(() => {
  nock.cleanAll();
  remote = createBareRemote();
  github = fakeGitHub();
});

const processed = (id: string) =>
  one.h.waitFor(`delivery ${id} processed`, async () => {
    const [row] = await one.h.db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.id, id));
    return row?.processedAt ? row : undefined;
  });

const reactions = (issue: number) =>
  github.calls.filter((call) => call === `POST /repos/${REPO}/issues/${issue}/reactions`);

let issue = 500;

describe("👀, once per run", () => {
  it("the label delivered six times at once under six delivery ids, to two processes: one run, one reaction, also after more deliveries and the run's publishes", async () => {
    issue += 1;
    const payload = labeledPayload({ issue, repository: REPO, cloneUrl: remote });
    // As GitHub sends them when the label is added again or re-sent: each its own id.
    const sent = await Promise.all(
      Array.from({ length: 6 }, (_, n) =>
        sendWebhook((n % 2 === 0 ? one : two).server.port, "issues", payload),
      ),
    );
    expect(new Set(sent.map((delivery) => delivery.id)).size).toBe(6);
    expect(sent.every((delivery) => delivery.status === 200)).toBe(true);
    const outcomes = await Promise.all(sent.map(async (delivery) => processed(delivery.id)));
    const started = outcomes.filter((row) => row.outcome?.startsWith("started run"));
    expect(started).toHaveLength(1);
    expect(outcomes.filter((row) => row.outcome === "refused: active_run_exists")).toHaveLength(5);
    const runId = started[0]?.runId ?? "";

    // The run's publishes (each would give 👀 had nobody) are over once its spec gate is shown.
    const spec = await one.h.waitForGate(runId, "spec_approved");
    await one.h.waitFor("the spec gate's check", async () =>
      github.published.some(
        (entry) => entry.kind === "check" && entry.body.includes(`"devflow-gate:${spec.id}"`),
      ),
    );
    // Two more deliveries of the label, one to each process, while the run waits.
    for (const [n, process] of [one, two].entries()) {
      const later = await sendWebhook(process.server.port, "issues", payload);
      expect((await processed(later.id)).outcome, `later delivery ${n}`).toBe(
        "refused: active_run_exists",
      );
    }
    // A delivery is processed once its handler is done, reaction included; the
    // publishes that would react are done too (the spec gate's check comes after).
    expect(reactions(issue)).toHaveLength(1);
    expect(github.published.filter((entry) => entry.kind === "reaction")).toEqual([
      { kind: "reaction", issue, body: JSON.stringify({ content: "eyes" }) },
    ]);
  });
});
