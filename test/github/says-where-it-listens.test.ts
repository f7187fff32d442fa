import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGitHubServer } from "../../src/github/start-github-server.ts";
import { createMetrics } from "../../src/observability/metrics.ts";
import { createOpsHandler } from "../../src/observability/ops-handler.ts";
import { appCredentials, freePort } from "../helpers/github-fixtures.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";

/** A logger that keeps its lines' messages, as a terminal would show them. */
function recordingLogger() {
  const messages: string[] = [];
  const log = pino(
    { level: "info" },
    { write: (line: string) => messages.push((JSON.parse(line) as { msg: string }).msg) },
  );
  return { log, listening: () => messages.filter((msg) => /listening/i.test(msg)) };
}

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop({ graceful: false });
});

describe("the webhook server says where it listens", () => {
  it("once, with its port, before an app is registered (the setup page, /healthz and /metrics)", async () => {
    const { log, listening } = recordingLogger();
    const port = await freePort();
    const server = await startGitHubServer({
      credentials: undefined,
      port,
      db: h.db,
      log,
      ops: createOpsHandler({ pool: h.devflow.database.pool, metrics: createMetrics() }),
    });
    try {
      const health = await fetch(`http://localhost:${port}/healthz`);
      expect(health.status).toBe(200);
      expect(listening()).toEqual([`Listening on http://localhost:${port}`]);
    } finally {
      await server.stop();
    }
  });

  it("once, with its address and port, once the app is registered", async () => {
    const { log, listening } = recordingLogger();
    const port = await freePort();
    const server = await startGitHubServer({
      credentials: appCredentials(),
      port,
      host: "127.0.0.1",
      db: h.db,
      log,
    });
    try {
      expect(listening()).toEqual([`Listening on http://127.0.0.1:${port}`]);
    } finally {
      await server.stop();
    }
  });
});
