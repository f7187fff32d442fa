import { existsSync } from "node:fs";
import { join } from "node:path";
import { and, asc, eq } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { embeddedUrl } from "../../src/db/embedded-postgres.ts";
import { phaseAttempts, runnerExecutions } from "../../src/db/schema/index.ts";
import {
  type DevflowProcess,
  runDevflow,
  spawnDevflow,
  waitForHealthy,
} from "../helpers/cli-process.ts";
import { tempDir } from "../helpers/git-fixtures.ts";
import { freePort } from "../helpers/github-fixtures.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("devflow start, as a user runs it", () => {
  it("starts on an empty data directory; SIGTERM lets a running attempt finish, hands back one that cannot, and stops cleanly; a second start finishes the run waiting at its gate", async () => {
    const dataDir = tempDir("cli-data");
    const env = {
      DEVFLOW_DATA_DIR: dataDir,
      DEVFLOW_EMBEDDED_PG_PORT: String(await freePort()),
      PORT: String(await freePort()),
      DEVFLOW_AGENT: "scripted",
      DEVFLOW_RUNNER: "process",
      // Running attempts get 7 s to finish after SIGTERM; then they are handed back.
      DEVFLOW_STOP_GRACE_SECONDS: "14",
    };
    const port = Number(env.PORT);
    const databaseUrl = embeddedUrl(Number(env.DEVFLOW_EMBEDDED_PG_PORT), "devflow");
    const start = async (): Promise<DevflowProcess> => {
      const devflow = spawnDevflow(["start"], env);
      cleanups.push(() => devflow.kill());
      await waitForHealthy(port, devflow);
      return devflow;
    };
    // The test steers the run as GitHub would, through the engine on the same database.
    const steer = async (): Promise<Harness> => {
      const h = await startHarness({ databaseUrl, workers: false, waitTimeoutMs: 60_000 });
      cleanups.push(() => h.stop({ graceful: false }).catch(() => {}));
      return h;
    };

    const first = await start();
    expect(existsSync(join(dataDir, "postgres", "PG_VERSION"))).toBe(true);
    let h = await steer();
    const { runId } = await h.start();
    await h.waitForGate(runId, "spec_approved");
    // Two more runs are mid-attempt when SIGTERM arrives: one agent works for 3 s, the
    // other never finishes on its first attempt.
    const busy = await h.start({ scenarios: { spec: "slow" } });
    const stuck = await h.start({ scenarios: { spec: ["timeout", "ok"] } });
    for (const { runId: id } of [busy, stuck]) {
      await h.waitFor("the attempt's agent to be running", async () => {
        const [execution] = await h.db
          .select()
          .from(runnerExecutions)
          .where(and(eq(runnerExecutions.runId, id), eq(runnerExecutions.state, "running")));
        return execution?.handle != null;
      });
    }
    await h.stop({ graceful: false });

    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
    expect(first.output()).toContain("handing the attempt back: this worker is stopping");
    expect(first.output()).toContain('"msg":"stopped"');
    // The embedded database was shut down, not left running or killed.
    expect(existsSync(join(dataDir, "postgres", "postmaster.pid"))).toBe(false);

    // With devflow stopped, the CLI starts the embedded database for itself.
    const shown = await runDevflow(["runs", "show", runId], env);
    expect(shown.stderr).toBe("");
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/state\s+awaiting_approval/);
    expect(shown.stdout).toMatch(/spec_approved \(.*\)\s+gate\s+pending/);

    const second = await start();
    // Against the running devflow: pause and resume by an id prefix, then what cannot be done.
    const paused = await runDevflow(["runs", "pause", runId.slice(0, 8)], env);
    expect(paused).toMatchObject({ code: 0, stdout: `run ${runId} paused\n` });
    expect((await runDevflow(["runs", "resume", runId], env)).code).toBe(0);
    const missing = await runDevflow(["runs", "show", "00000000-0000-4000-8000-000000000000"], env);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain("does not exist");

    h = await steer();
    expect((await h.status(runId)).run.state).toBe("awaiting_approval");
    // The attempt running at SIGTERM was let finish: its gate is there, after one attempt.
    await h.waitForGate(busy.runId, "spec_approved");
    const busySpec = (await h.status(busy.runId)).phases.find((phase) => phase.phaseKey === "spec");
    expect(busySpec).toMatchObject({ state: "awaiting_approval", attempts: 1 });
    await h.engine.abortRun({ runId: busy.runId, reason: "done with it" });
    // The attempt that could not finish was handed back at shutdown and ran again after it.
    await h.waitForGate(stuck.runId, "spec_approved");
    const stuckAttempts = await h.db
      .select()
      .from(phaseAttempts)
      .where(eq(phaseAttempts.runId, stuck.runId))
      .orderBy(asc(phaseAttempts.attempt));
    expect(stuckAttempts.map((attempt) => [attempt.state, attempt.failure?.code ?? null])).toEqual([
      ["superseded", "worker_stopped"],
      ["succeeded", null],
    ]);
    const stuckExecution = await h.db
      .select()
      .from(runnerExecutions)
      .where(eq(runnerExecutions.attemptId, stuckAttempts[0]?.id ?? ""));
    expect(stuckExecution.map((execution) => execution.state)).toEqual(["stopped"]);
    await h.engine.abortRun({ runId: stuck.runId, reason: "done with it" });
    await h.approve(runId, "spec_approved");
    await h.approve(runId, "phase_plan_approved");
    const done = await h.waitForState(runId, "completed");
    expect(done.phases.every((phase) => ["completed", "skipped"].includes(phase.state))).toBe(true);
    const events = await h.events(runId);
    expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index + 1));
    await h.stop({ graceful: false });

    const listed = await runDevflow(["runs", "list", "--json"], env);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ id: stuck.runId, state: "aborted" }),
      expect.objectContaining({ id: busy.runId, state: "aborted" }),
      expect.objectContaining({ id: runId, state: "completed" }),
    ]);
    const refused = await runDevflow(["runs", "pause", runId], env);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain("cannot be paused");

    // Every line devflow logged is one JSON object; the run's lines carry its id.
    const lines = second.output().trim().split("\n");
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logged.some((line) => line.runId === runId && line.msg === "run event")).toBe(true);

    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  }, 240_000);
});
