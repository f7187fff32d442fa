import { setTimeout as sleep } from "node:timers/promises";
import { scriptedBehaviour } from "../agents/scripted/fixtures.ts";
import { DevflowError } from "../errors.ts";
import type { Runner, RunnerExit, RunnerHandle, RunnerRequest, TranscriptChunk } from "./runner.ts";

interface Execution {
  controller: AbortController;
  transcript: string[];
  done: Promise<RunnerExit>;
}

function executionId(handle: RunnerHandle): string {
  const id = handle.executionId;
  if (typeof id !== "string") {
    throw new DevflowError("in-process handle has no executionId", {
      class: "fatal",
      code: "runner_handle_invalid",
      category: "runner",
    });
  }
  return id;
}

/**
 * Runs the scripted agent inside the worker process. It exists so the engine and
 * its jobs can be tested end to end without processes or containers; it can only
 * run the scripted agent. Its executions live in this runner instance, so a
 * capture or dispose from another process finds nothing (and says so by doing nothing).
 */
export function createInProcessRunner(): Runner {
  const executions = new Map<string, Execution>();

  async function play(request: RunnerRequest, execution: Execution): Promise<RunnerExit> {
    const say = (line: string) => execution.transcript.push(`${line}\n`);
    if (request.agent !== "scripted") {
      return {
        exitCode: 127,
        timedOut: false,
        stopped: false,
        output: null,
        error: {
          code: "agent_unavailable",
          fatal: true,
          message: `the in-process runner runs only the scripted agent, not ${request.agent}; set DEVFLOW_RUNNER=process or docker`,
        },
      };
    }
    const scenario = request.scenario ?? "ok";
    say(
      `scripted agent: phase ${request.phaseKey}, attempt ${request.attempt}.${request.revision}, scenario ${scenario}`,
    );
    const behaviour = scriptedBehaviour(request.schemaId, scenario);
    const { signal } = execution.controller;
    const timer = sleep(request.timeoutMs, "timeout", { signal }).catch(() => "stopped");
    if (behaviour.kind === "hang") {
      const why = await timer;
      say(
        why === "timeout" ? "scripted agent: killed at the time limit" : "scripted agent: stopped",
      );
      return {
        exitCode: null,
        timedOut: why === "timeout",
        stopped: why !== "timeout",
        output: null,
      };
    }
    // Let a stop that raced with the start win, as it would for a real process.
    await Promise.resolve();
    if (signal.aborted) return { exitCode: null, timedOut: false, stopped: true, output: null };
    execution.controller.abort();
    if (behaviour.kind === "exit") {
      say(`scripted agent: ${behaviour.message}`);
      return {
        exitCode: behaviour.exitCode,
        timedOut: false,
        stopped: false,
        output: null,
        error: { code: behaviour.code, fatal: behaviour.fatal, message: behaviour.message },
      };
    }
    const output =
      behaviour.kind === "text" ? behaviour.text : JSON.stringify(behaviour.value, null, 2);
    say(`scripted agent: wrote ${output.length} bytes`);
    return {
      exitCode: 0,
      timedOut: false,
      stopped: false,
      output,
      costUsd: 0,
      tokens: { input: 0, output: 0 },
    };
  }

  return {
    backend: "in-process",
    async start(request) {
      const execution: Execution = {
        controller: new AbortController(),
        transcript: [],
        done: Promise.resolve({ exitCode: null, timedOut: false, stopped: true, output: null }),
      };
      executions.set(request.executionId, execution);
      execution.done = play(request, execution);
      return { executionId: request.executionId, pid: process.pid };
    },
    async wait(handle) {
      const execution = executions.get(executionId(handle));
      if (execution === undefined)
        return { exitCode: null, timedOut: false, stopped: true, output: null };
      return execution.done;
    },
    async capture(handle, fromSeq): Promise<TranscriptChunk[]> {
      const execution = executions.get(executionId(handle));
      if (execution === undefined) return [];
      return execution.transcript
        .slice(fromSeq)
        .map((text, index) => ({ seq: fromSeq + index + 1, text }));
    },
    async dispose(handle) {
      const id = executionId(handle);
      const execution = executions.get(id);
      if (execution === undefined) return;
      execution.controller.abort();
      await execution.done;
      executions.delete(id);
    },
  };
}
