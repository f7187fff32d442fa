import type { AgentView } from "../agents/agent-adapter.ts";
import { parseScriptedArgs, runScriptedAgent } from "../agents/scripted/run-scripted-agent.ts";
import { SCRIPTED_AGENT_PATH } from "../agents/scripted/scripted-adapter.ts";
import { DevflowError } from "../errors.ts";
import { type Runner, type RunnerExit, type RunnerHandle, toChunks } from "./runner.ts";

interface Execution {
  controller: AbortController;
  transcript: string;
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
 * Runs the scripted agent's executable code inside the worker process, so the
 * engine and its jobs can be tested end to end without processes or containers.
 * It runs nothing else. Its executions live in this runner instance: a capture or
 * dispose from another process finds nothing, and does nothing.
 */
export function createInProcessRunner(): Runner {
  const executions = new Map<string, Execution>();
  const view = ({ workspace, ioDir }: { workspace: string; ioDir: string }): AgentView => ({
    workspace,
    io: ioDir,
    node: process.execPath,
    scriptedAgent: SCRIPTED_AGENT_PATH,
  });

  return {
    backend: "in-process",
    view,
    async start(request) {
      const [, script, ...args] = request.command.argv;
      const execution: Execution = {
        controller: new AbortController(),
        transcript: "",
        done: Promise.resolve({ exitCode: null, timedOut: false, stopped: true }),
      };
      executions.set(request.executionId, execution);
      const print = (line: string) => {
        execution.transcript += `${line}\n`;
      };
      if (script !== SCRIPTED_AGENT_PATH) {
        print(
          `devflow-error: ${JSON.stringify({ code: "agent_unavailable", fatal: true, message: `the in-process runner runs only the scripted agent; set DEVFLOW_RUNNER=process or docker to run ${request.command.argv[0]}` })}`,
        );
        execution.done = Promise.resolve({ exitCode: 127, timedOut: false, stopped: false });
        return { executionId: request.executionId, pid: process.pid };
      }
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        execution.controller.abort();
      }, request.timeoutMs);
      execution.done = (async () => {
        try {
          const code = await runScriptedAgent(
            parseScriptedArgs(args, request.workspace),
            print,
            execution.controller.signal,
          );
          const stopped = execution.controller.signal.aborted && !timedOut;
          return { exitCode: stopped || timedOut ? null : code, timedOut, stopped };
        } finally {
          clearTimeout(timer);
        }
      })();
      return { executionId: request.executionId, pid: process.pid };
    },
    async wait(handle) {
      const execution = executions.get(executionId(handle));
      if (execution === undefined) return { exitCode: null, timedOut: false, stopped: true };
      return execution.done;
    },
    async capture(handle, fromSeq) {
      const execution = executions.get(executionId(handle));
      return execution === undefined ? [] : toChunks(execution.transcript, fromSeq);
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
