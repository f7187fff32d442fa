import nock from "nock";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { createGitHubAccess } from "../../src/github/github-access.ts";
import { createProbot } from "../../src/github/start-github-server.ts";
import { createMetrics } from "../../src/observability/metrics.ts";
import { createOpsHandler } from "../../src/observability/ops-handler.ts";
import {
  API,
  APP_ID,
  appPrivateKey,
  INSTALLATION_ID,
  WEBHOOK_SECRET,
} from "../helpers/github-fixtures.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";

const harnesses: Harness[] = [];
afterAll(async () => {
  for (const h of harnesses) await h.stop({ graceful: false });
  nock.cleanAll();
});

/** The samples of one metric family: name with labels → value. */
function samples(text: string, name: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      const at = line.lastIndexOf(" ");
      found.set(line.slice(0, at), Number(line.slice(at + 1)));
    }
  }
  return found;
}

describe("/metrics", () => {
  it("reports runs by state, attempt durations, queues and failures from the database, as valid histograms", async () => {
    const h = await startHarness();
    harnesses.push(h);
    const metrics = createMetrics();
    const done = await h.start({ scenarios: { spec: ["crash", "ok"] } });
    await h.approve(done.runId, "spec_approved");
    await h.approve(done.runId, "phase_plan_approved");
    await h.waitForState(done.runId, "completed");
    const waiting = await h.start();
    await h.waitForGate(waiting.runId, "spec_approved");
    metrics.observeWebhook(0.004, "queued");
    metrics.observeWebhook(0.3, "queued");
    metrics.observeWebhook(0.002, "duplicate");

    const text = await metrics.render(h.devflow.database.pool);
    expect(text).toContain('devflow_runs{state="completed"} 1');
    expect(text).toContain('devflow_runs{state="awaiting_approval"} 1');
    expect(text).toContain('devflow_runs{state="failed"} 0');
    expect(text).toContain('devflow_runner_failures_total{category="agent_error"} 1');
    for (const queue of ["phase-execute", "run-advance", "webhook-process", "run-publish"]) {
      expect(text).toContain(`devflow_queue_jobs{queue="${queue}",state="waiting"}`);
      expect(text).toContain(`devflow_queue_oldest_waiting_seconds{queue="${queue}"}`);
    }
    // Histograms: buckets cumulative and ending at the count.
    for (const [family, series] of [
      ["devflow_phase_attempt_duration_seconds", 'outcome="succeeded"'],
      ["devflow_webhook_request_seconds", 'outcome="queued"'],
    ] as const) {
      const buckets = [...samples(text, `${family}_bucket`)]
        .filter(([key]) => key.includes(series))
        .map(([, value]) => value);
      const count = samples(text, `${family}_count`).get(`${family}_count{${series}}`);
      expect(buckets.length, family).toBeGreaterThan(3);
      expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
      expect(buckets.at(-1)).toBe(count);
    }
    expect(
      samples(text, "devflow_webhook_request_seconds_count").get(
        'devflow_webhook_request_seconds_count{outcome="queued"}',
      ),
    ).toBe(2);
    expect(text).toContain('devflow_webhook_request_seconds_bucket{le="0.005",outcome="queued"} 1');
    // Every sample line is `name{labels} number`.
    for (const line of text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))) {
      expect(line).toMatch(/^[a-z_]+(\{[^}]*\})? -?[0-9.e+-]+$/);
    }
  });

  it("counts GitHub REST calls and keeps the rate limit GitHub reported", async () => {
    nock.disableNetConnect();
    const metrics = createMetrics();
    const privateKey = appPrivateKey();
    const log = pino({ level: "silent" });
    const access = createGitHubAccess({
      probot: createProbot(
        { appId: APP_ID, privateKey, webhookSecret: WEBHOOK_SECRET, baseUrl: API },
        log,
      ),
      appId: APP_ID,
      privateKey,
      baseUrl: API,
      metrics,
    });
    nock(API)
      .post(`/app/installations/${INSTALLATION_ID}/access_tokens`)
      .reply(201, { token: "ghs_x", expires_at: "2099-01-01T00:00:00Z" })
      .get("/repos/octo/widgets")
      .reply(
        200,
        { id: 1 },
        {
          "x-ratelimit-remaining": "4990",
          "x-ratelimit-limit": "5000",
          "x-ratelimit-resource": "core",
        },
      )
      .get("/repos/octo/missing")
      .reply(
        404,
        { message: "Not Found" },
        { "x-ratelimit-remaining": "4989", "x-ratelimit-limit": "5000" },
      );
    const octokit = await access.octokitFor(INSTALLATION_ID);
    await octokit.request("GET /repos/{owner}/{repo}", { owner: "octo", repo: "widgets" });
    await expect(
      octokit.request("GET /repos/{owner}/{repo}", { owner: "octo", repo: "missing" }),
    ).rejects.toMatchObject({ status: 404 });
    nock.enableNetConnect();

    const h = harnesses[0];
    if (h === undefined) throw new Error("the first test's harness is gone");
    const text = await metrics.render(h.devflow.database.pool);
    expect(text).toContain('devflow_github_requests_total{method="GET",status="200"} 1');
    expect(text).toContain('devflow_github_requests_total{method="GET",status="404"} 1');
    expect(text).toContain('devflow_github_rate_limit_remaining{resource="core"} 4989');
    expect(text).toContain('devflow_github_rate_limit{resource="core"} 5000');
  });

  it("/healthz says which part is down", async () => {
    const h = harnesses[0];
    if (h === undefined) throw new Error("the first test's harness is gone");
    const answer = async (pool: typeof h.devflow.database.pool) => {
      const handler = createOpsHandler({ pool, metrics: createMetrics() });
      let status = 0;
      let body = "";
      const res = {
        writeHead(code: number) {
          status = code;
          return res;
        },
        end(text: string) {
          body = text;
        },
      };
      const answered = await handler({ method: "GET", url: "/healthz" } as never, res as never);
      return { answered, status, body: JSON.parse(body) as Record<string, string> };
    };
    expect(await answer(h.devflow.database.pool)).toEqual({
      answered: true,
      status: 200,
      body: { status: "ok", database: "ok", queue: "ok" },
    });
    const pg = await import("pg");
    const broken = new pg.default.Pool({
      connectionString: "postgres://x:y@127.0.0.1:1/none",
      connectionTimeoutMillis: 500,
    });
    const down = await answer(broken);
    expect(down.status).toBe(503);
    expect(down.body.status).toBe("unavailable");
    expect(down.body.database).not.toBe("ok");
    await broken.end();
  });
});
