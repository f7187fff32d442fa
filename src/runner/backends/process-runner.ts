import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { appendFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SCRIPTED_AGENT_PATH } from "../../agents/scripted/scripted-adapter.ts";
import { DevflowError } from "../../errors.ts";
import { agentEnvironment } from "../agent-environment.ts";
import {
  executionGone,
  type Runner,
  type RunnerExit,
  type RunnerHandle,
  toChunks,
} from "../runner.ts";

export interface ProcessRunnerOptions {
  /** How long a stopped agent gets between SIGTERM and SIGKILL. */
  killGraceMs?: number;
}

interface Running {
  child: ChildProcess;
  done: Promise<RunnerExit>;
  stopRequested: boolean;
}

function field(handle: RunnerHandle, name: string): string {
  const value = handle[name];
  if (value === undefined) {
    throw new DevflowError(`process handle has no ${name}`, {
      class: "fatal",
      code: "runner_handle_invalid",
      category: "runner",
    });
  }
  return String(value);
}

/** Whether `pid` is still the agent of `executionId` (a pid can be reused after a restart). */
async function ownsProcess(pid: number, executionId: string): Promise<boolean> {
  try {
    const environ = await readFile(`/proc/${pid}/environ`, "latin1");
    return environ.split("\0").includes(`DEVFLOW_EXECUTION_ID=${executionId}`);
  } catch {
    return false;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Runs the agent as a child process in the workspace, in its own process group,
 * with a scrubbed environment and a home directory of its own. On timeout or
 * stop the whole group gets SIGTERM, then SIGKILL. The transcript is a file, so
 * any process on this host can capture it; disposal by a persisted pid checks
 * that the process is still this execution's before killing it.
 */
export function createProcessRunner(options: ProcessRunnerOptions = {}): Runner {
  const grace = options.killGraceMs ?? 5_000;
  const running = new Map<string, Running>();

  async function stopGroup(pid: number, entry: Running | undefined): Promise<void> {
    signalGroup(pid, "SIGTERM");
    if (entry !== undefined) {
      const settled = await Promise.race([entry.done.then(() => true), sleep(grace, false)]);
      if (settled) return;
    } else {
      await sleep(Math.min(grace, 500));
    }
    signalGroup(pid, "SIGKILL");
    if (entry !== undefined) await entry.done;
  }

  return {
    backend: "process",
    view: ({ workspace, ioDir }) => ({
      workspace,
      io: ioDir,
      node: process.execPath,
      scriptedAgent: SCRIPTED_AGENT_PATH,
    }),
    async start(request) {
      const log = join(request.ioDir, "transcript.log");
      const home = join(request.ioDir, "home");
      mkdirSync(home, { recursive: true });
      const out = openSync(log, "a");
      const stdin =
        request.command.stdinFile === undefined
          ? "ignore"
          : openSync(request.command.stdinFile, "r");
      const [command, ...args] = request.command.argv;
      if (command === undefined)
        throw new DevflowError("the agent command is empty", {
          class: "fatal",
          code: "agent_not_configured",
          category: "agent_error",
        });
      const child = spawn(command, args, {
        cwd: request.workspace,
        env: agentEnvironment(request, {
          home,
          ...(process.env.PATH === undefined ? {} : { path: process.env.PATH }),
        }),
        detached: true,
        stdio: [stdin, out, out],
      });
      closeSync(out);
      if (typeof stdin === "number") closeSync(stdin);
      const entry: Running = {
        child,
        done: Promise.resolve({ exitCode: null, timedOut: false, stopped: false }),
        stopRequested: false,
      };
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        if (child.pid !== undefined) void stopGroup(child.pid, entry);
      }, request.timeoutMs);
      entry.done = new Promise<RunnerExit>((resolve) => {
        child.once("error", async (error) => {
          clearTimeout(timer);
          const message = `${command}: ${error.message} (is the agent installed where the runner runs?)`;
          await appendFile(
            log,
            `devflow-error: ${JSON.stringify({ code: "agent_unavailable", fatal: true, message })}\n`,
          );
          resolve({ exitCode: 127, timedOut: false, stopped: false });
        });
        child.once("exit", (code) => {
          clearTimeout(timer);
          resolve({
            exitCode: timedOut || entry.stopRequested ? null : code,
            timedOut,
            stopped: entry.stopRequested && !timedOut,
          });
        });
      });
      running.set(request.executionId, entry);
      return { executionId: request.executionId, pid: child.pid ?? -1, log };
    },
    async wait(handle) {
      const entry = running.get(field(handle, "executionId"));
      if (entry === undefined) return { exitCode: null, timedOut: false, stopped: true };
      return entry.done;
    },
    async capture(handle, fromSeq) {
      try {
        return toChunks(await readFile(field(handle, "log"), "utf8"), fromSeq);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") {
          throw executionGone("transcript", error);
        }
        throw error;
      }
    },
    async dispose(handle) {
      const executionId = field(handle, "executionId");
      const pid = Number(handle.pid);
      const entry = running.get(executionId);
      if (entry !== undefined) {
        if (entry.child.exitCode === null && entry.child.signalCode === null) {
          entry.stopRequested = true;
          await stopGroup(pid, entry);
        }
        running.delete(executionId);
        return;
      }
      if (pid > 0 && (await ownsProcess(pid, executionId))) await stopGroup(pid, undefined);
    },
  };
}
