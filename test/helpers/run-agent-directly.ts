import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Runner, RunnerExit, RunnerRequest } from "../../src/runner/runner.ts";
import { tempDir } from "./git-fixtures.ts";

/** One execution's request for a runner, with a fresh workspace and execution directory. */
export function agentRequest(
  command: RunnerRequest["command"],
  timeoutMs = 120_000,
): RunnerRequest {
  const root = tempDir("devflow-direct-");
  const workspace = join(root, "workspace");
  const ioDir = join(root, "executions", randomUUID());
  mkdirSync(workspace, { recursive: true });
  mkdirSync(ioDir, { recursive: true });
  return {
    executionId: randomUUID(),
    runId: randomUUID(),
    phaseKey: "implement",
    attempt: 1,
    revision: 1,
    workspace,
    ioDir,
    command,
    passEnv: [],
    readOnly: [],
    egress: { rules: [] },
    timeoutMs,
  };
}

/** Runs `request` to its end as the attempt does (start, wait, capture, dispose). */
export async function runAgentDirectly(
  runner: Runner,
  request: RunnerRequest,
  /** Looks at the execution from outside while it runs; what it finds is the finding "host uids". */
  watch?: () => Promise<unknown>,
): Promise<{ exit: RunnerExit; transcript: string; findings: Map<string, unknown> }> {
  const handle = await runner.start(request);
  let exit: RunnerExit;
  let transcript = "";
  let watched: unknown;
  try {
    watched = await watch?.();
    exit = await runner.wait(handle);
    transcript = (await runner.capture(handle, 0)).map((chunk) => chunk.text).join("");
  } finally {
    await runner.dispose(handle);
  }
  const findings = new Map<string, unknown>();
  if (watch !== undefined) findings.set("host uids", watched);
  for (const [, name, value] of transcript.matchAll(/^finding (\S+) (.*)$/gm)) {
    if (name !== undefined && value !== undefined) findings.set(name, JSON.parse(value));
  }
  return { exit, transcript, findings };
}
