import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runnerExecutions } from "../../src/db/schema/index.ts";
import { desiredChecks } from "../../src/github/publish/reconcile-check-runs.ts";
import { createProcessRunner } from "../../src/runner/backends/process-runner.ts";
import type { Runner } from "../../src/runner/runner.ts";
import { parseEgressRule } from "../../src/security/egress-policy.ts";
import { dockerForTests, dockerRunnerForTests } from "../helpers/docker-for-tests.ts";
import { createBareRemote, tempDir } from "../helpers/git-fixtures.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";

const fixtures = fileURLToPath(new URL("../fixtures/agents/", import.meta.url));
const docker = await dockerForTests();

/** A real HTTP server on loopback that remembers who asked. */
async function server(name: string): Promise<{ url: string; hits: string[]; close(): void }> {
  const hits: string[] = [];
  const http: Server = createServer((req, res) => {
    hits.push(req.url ?? "");
    res.end(`${name} says hello`);
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const address = http.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, hits, close: () => http.close() };
}

const backends: { name: string; available: boolean; runner: () => Runner }[] = [
  { name: "process", available: true, runner: () => createProcessRunner({ killGraceMs: 500 }) },
  {
    name: "docker",
    available: docker.available,
    runner: () => dockerRunnerForTests(docker, [fixtures]),
  },
];

describe.each(backends)("the egress allowlist in the $name runner", (backend) => {
  let h: Harness;
  let allowed: Awaited<ReturnType<typeof server>>;
  let refused: Awaited<ReturnType<typeof server>>;

  beforeAll(async () => {
    if (!backend.available) return;
    allowed = await server("allowed");
    refused = await server("refused");
    // Execution files under a long path: the proxy's socket there is longer than the
    // 107 bytes a unix socket's path may have.
    const executions = join(tempDir("executions"), "a-data-directory-with-a-long-name".repeat(4));
    mkdirSync(executions, { recursive: true });
    h = await startHarness({
      runner: backend.runner(),
      roots: { workspaces: tempDir("workspaces"), executions },
      jobs: {
        defaultAgent: "command",
        agentOptions: { command: `node ${fixtures}egress-probe.mjs {prompt} {output}` },
        // An operator's rule: a loopback address only an operator may allow.
        egressAllow: [parseEgressRule(new URL(allowed.url).host, true)],
      },
      waitTimeoutMs: 60_000,
    });
  });
  afterAll(async () => {
    if (!backend.available) return;
    allowed.close();
    refused.close();
    await h.stop();
  });

  it.runIf(backend.available)(
    "lets the agent reach what the operator allowed, refuses the rest, and shows the refusal with the phase, under a data directory of any length",
    async () => {
      const { runId } = await h.start({
        cloneUrl: createBareRemote(),
        requirements: `Fetch these.\n\nEGRESS-PROBE${JSON.stringify([`${allowed.url}/models`, `${refused.url}/steal`, "http://169.254.169.254/latest/meta-data/"])}EGRESS-PROBE`,
      });
      await h.waitForGate(runId, "spec_approved");
      expect(allowed.hits).toEqual(["/models"]);
      expect(refused.hits).toEqual([]);
      const [execution] = await h.db
        .select()
        .from(runnerExecutions)
        .where(eq(runnerExecutions.runId, runId));
      expect(execution?.transcript).toContain(
        `fetched ${allowed.url}/models: 200 allowed says hello`,
      );
      // Node's fetch tunnels through the proxy (CONNECT): a refused tunnel is an error to it.
      expect(execution?.transcript).toContain(`fetched ${refused.url}/steal: failed`);
      const refusedHost = new URL(refused.url);
      expect(execution?.exit?.egressDenied).toEqual([
        expect.objectContaining({
          host: "127.0.0.1",
          port: Number(refusedHost.port),
          reason: "not in the egress allowlist",
        }),
        expect.objectContaining({ host: "169.254.169.254", port: 80 }),
      ]);
      const status = await h.status(runId);
      const spec = status.phases.find((phase) => phase.phaseKey === "spec");
      expect(spec?.egressDenied).toHaveLength(2);
      const check = desiredChecks(status).checks.find((c) => c.name === "devflow / spec");
      expect(check?.summary).toContain(`\`${refusedHost.host}\` (not in the egress allowlist)`);
      expect(check?.summary).toContain("DEVFLOW_EGRESS_ALLOW");
    },
    90_000,
  );
});
