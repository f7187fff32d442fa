import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { and, eq } from "drizzle-orm";
import pino from "pino";
import { expect } from "vitest";
import { phaseAttempts, runnerExecutions } from "../../src/db/schema/index.ts";
import { TRANSCRIPT_LIMIT } from "../../src/engine/execution-records.ts";
import { runExecution } from "../../src/runner/attempt/run-execution.ts";
import type { Runner } from "../../src/runner/runner.ts";
import { createSecrets } from "../../src/security/secrets.ts";
import { tempDir } from "./git-fixtures.ts";
import type { Harness } from "./harness.ts";

const MIB = 1024 * 1024;
/** What the flooding agent prints: 300 000 lines of 1000 bytes, about 286 MiB. */
export const FLOOD = { lines: 300_000, lineBytes: 1000 };

/** The agent: numbered lines, written in batches so the flood is fast. */
const FLOOD_SCRIPT = `
const { lines, lineBytes } = ${JSON.stringify(FLOOD)};
const line = (i) => "flood " + String(i).padStart(6, "0") + " " + "x".repeat(lineBytes - 14) + "\\n";
const fs = require("node:fs");
for (let i = 1; i <= lines; i += 100) {
  let batch = "";
  for (let j = i; j < i + 100 && j <= lines; j += 1) batch += line(j);
  fs.writeSync(1, batch);
}
`;

const NOTE =
  /^\ndevflow: the transcript was cut at (\d+) MiB; (\d+) MiB more output was not kept\n$/;

/** The line the flooding agent prints as number `i`. */
export function floodLine(i: number): string {
  return `flood ${String(i).padStart(6, "0")} ${"x".repeat(FLOOD.lineBytes - 14)}\n`;
}

/**
 * Runs an agent that prints 300 000 lines through `runner` and the real engine
 * (runExecution → appendTranscript, finishExecution → PostgreSQL) while sampling
 * this process's memory, where the runner runs; then checks devflow stayed within
 * 100 MiB of where it started, and that what it kept is the flood's first
 * `capBytes` with the note of what was cut: all of it in what runExecution
 * returns, its last TRANSCRIPT_LIMIT characters in the stored transcript.
 * `h` must be a harness without workers (the test plays the phase job).
 */
export async function expectTranscriptFloodBounded(
  h: Harness,
  runner: Runner,
  capBytes: number,
): Promise<void> {
  const { runId } = await h.start({});
  const attempt = await h.waitFor("the run's first attempt", async () => {
    const [row] = await h.db
      .select()
      .from(phaseAttempts)
      .where(and(eq(phaseAttempts.runId, runId), eq(phaseAttempts.state, "running")));
    return row;
  });
  const registration = await h.engine.registerExecution({
    runId,
    attemptId: attempt.id,
    revision: 1,
    backend: runner.backend,
  });
  if (registration.status !== "registered") throw new Error("the execution was not registered");
  const { executionId } = registration;
  const ioDir = join(h.executionsDir, executionId);
  mkdirSync(ioDir, { recursive: true });
  const workspace = tempDir("flood-workspace");
  const view = runner.view({ workspace, ioDir });

  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  let result: Awaited<ReturnType<typeof runExecution>>;
  try {
    result = await runExecution(
      {
        engine: h.engine,
        runner,
        log: pino({ level: "silent" }),
        secrets: createSecrets([]),
        heartbeatMs: 1000,
      },
      {
        executionId,
        runId,
        phaseKey: "spec",
        attempt: 1,
        revision: 1,
        workspace,
        ioDir,
        command: { argv: [view.node, "-e", FLOOD_SCRIPT], env: {} },
        passEnv: [],
        readOnly: [],
        egress: { rules: [] },
        timeoutMs: 240_000,
      },
    );
  } finally {
    clearInterval(sampler);
  }
  peak = Math.max(peak, process.memoryUsage().rss);

  expect(result.exit).toMatchObject({ exitCode: 0, timedOut: false, stopped: false });
  const total = FLOOD.lines * FLOOD.lineBytes;
  // The kept head ends part-way through a line; the note starts a line of its own. It
  // counts what reached devflow: a log driver may drop what devflow had no need to read.
  const fullLines = Math.floor(capBytes / FLOOD.lineBytes);
  const partial = floodLine(fullLines + 1).slice(0, capBytes - fullLines * FLOOD.lineBytes);
  const head = result.transcript.slice(0, capBytes);
  expect(head.startsWith(`${floodLine(1)}${floodLine(2)}`)).toBe(true);
  expect(head.endsWith(`${floodLine(fullLines)}${partial}`)).toBe(true);
  const note = NOTE.exec(result.transcript.slice(capBytes));
  expect(Number(note?.[1])).toBe(capBytes / MIB);
  expect(Number(note?.[2])).toBeGreaterThan(0);
  expect(Number(note?.[2])).toBeLessThanOrEqual(Math.round((total - capBytes) / MIB));

  const [row] = await h.db
    .select()
    .from(runnerExecutions)
    .where(eq(runnerExecutions.id, executionId));
  expect(row?.state).toBe("succeeded");
  expect(row?.transcript.length).toBe(TRANSCRIPT_LIMIT);
  expect(row?.transcript).toBe(result.transcript.slice(-TRANSCRIPT_LIMIT));
  expect(row?.lastCaptureSeq).toBe(fullLines + 2);

  const growthMib = (peak - baseline) / MIB;
  expect(growthMib, `devflow's memory grew by ${growthMib.toFixed(0)} MiB`).toBeLessThan(100);
}
