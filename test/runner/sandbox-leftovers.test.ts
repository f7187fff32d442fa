import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { createProcessRunner } from "../../src/runner/backends/process-runner.ts";
import type { RunnerRequest } from "../../src/runner/runner.ts";
import { executionProcesses, killAll } from "../helpers/execution-processes.ts";
import { tempDir } from "../helpers/git-fixtures.ts";

function request(executionId: string, networked: boolean): RunnerRequest {
  const root = tempDir("devflow-leftovers-");
  const workspace = join(root, "workspace");
  const ioDir = join(root, "io");
  mkdirSync(workspace);
  mkdirSync(ioDir);
  return {
    executionId,
    runId: randomUUID(),
    phaseKey: "spec",
    attempt: 1,
    revision: 1,
    workspace,
    ioDir,
    // An agent that would never end on its own.
    command: { argv: ["/bin/sleep", "1000"], env: {}, tools: ["/bin/sleep"] },
    passEnv: [],
    readOnly: [],
    egress: { rules: networked ? [{ host: "api.example.com", named: true }] : [] },
    timeoutMs: 600_000,
  };
}

describe("a sandbox stopped while it is being set up", () => {
  it("leaves no process behind, however early the stop comes (bubblewrap arms --die-with-parent only part-way)", async () => {
    const runner = createProcessRunner({ killGraceMs: 200 });
    const ids = new Set<string>();
    // Stops from at once to 20 ms after the start: the window in which bubblewrap's
    // outer process dying used to leave the sandbox itself running, unsupervised.
    for (let round = 0; round < 24; round += 1) {
      const id = `leftover-${randomUUID()}`;
      ids.add(id);
      const handle = await runner.start(request(id, round % 2 === 1));
      if (round % 6 !== 0) await sleep(round % 20);
      await runner.dispose(handle);
    }
    const left = (await executionProcesses()).filter((found) => ids.has(found.executionId));
    // Clean up whatever a failure left, so it does not outlive the test either.
    killAll(left);
    expect(left).toEqual([]);
  });
});
