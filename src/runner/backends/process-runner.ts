import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { appendFile, readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SCRIPTED_AGENT_PATH } from "../../agents/scripted/scripted-adapter.ts";
import { DevflowError } from "../../errors.ts";
import { agentEnvironment } from "../agent-environment.ts";
import {
  executionGone,
  type Runner,
  type RunnerExit,
  type RunnerHandle,
  type RunnerRequest,
  toChunks,
} from "../runner.ts";
import { type BubblewrapFeatures, bubblewrapArgs } from "../sandbox/bubblewrap.ts";
import { type EgressProxy, startEgressProxy } from "../sandbox/egress-proxy.ts";
import { probeBubblewrap } from "../sandbox/probe-bubblewrap.ts";
import {
  loopbackForwards,
  proxyEnvironment,
  SANDBOX,
  writeSandboxFiles,
} from "../sandbox/sandbox-view.ts";

export interface ProcessRunnerOptions {
  /** How long a stopped agent gets between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  /**
   * `bubblewrap` (the default): every agent in a sandbox of its own. `none` runs
   * agents as plain child processes that can read everything devflow can —
   * only by the operator's explicit DEVFLOW_INSECURE_NO_SANDBOX.
   */
  sandbox?: "bubblewrap" | "none";
  /** Host paths every sandbox shows read-only at the same path (DEVFLOW_SANDBOX_READ_ONLY). */
  readOnly?: string[];
}

interface Running {
  child: ChildProcess;
  done: Promise<RunnerExit>;
  stopRequested: boolean;
  proxy: EgressProxy | undefined;
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

/** Every process on this host whose environment names an execution, by execution id. */
async function executionProcesses(): Promise<Map<string, number[]>> {
  const found = new Map<string, number[]>();
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const environ = await readFile(`/proc/${name}/environ`, "latin1").catch(() => "");
    const match = /(?:^|\0)DEVFLOW_EXECUTION_ID=([^\0]+)/.exec(environ);
    if (match?.[1] === undefined) continue;
    found.set(match[1], [...(found.get(match[1]) ?? []), Number(name)]);
  }
  return found;
}

/** How long the runner waits for killed leftovers to be gone. */
const LEFTOVER_WAIT_MS = 5_000;

/**
 * Kills every process still carrying `executionId` once the execution's first
 * process is gone; how many there were. A sandbox normally dies with it
 * (--die-with-parent), but bubblewrap arms that only part-way through setting the
 * sandbox up: its first process killed before then (a stop, a time limit or devflow
 * itself ending the moment an agent starts) leaves the sandbox running with no one
 * to answer to. Unsandboxed, an agent's detached children would outlive it too.
 */
async function killLeftovers(executionId: string): Promise<number> {
  let total = 0;
  // Again while a pass found some: a process may have forked before it died.
  for (let pass = 0; pass < 3; pass += 1) {
    const killed: number[] = [];
    for (const pid of (await executionProcesses()).get(executionId) ?? []) {
      // Looked at again just before: a pid freed since the scan is not this execution's.
      if (!(await ownsProcess(pid, executionId))) continue;
      try {
        process.kill(pid, "SIGKILL");
        killed.push(pid);
      } catch {
        // Gone already.
      }
    }
    if (killed.length === 0) break;
    total += killed.length;
    // A SIGKILL takes effect when the process next runs: the execution is over once
    // they are gone (a busy host takes a moment), not when they were signalled.
    for (let waited = 0; waited < LEFTOVER_WAIT_MS; waited += 20) {
      const alive = await Promise.all(killed.map((pid) => ownsProcess(pid, executionId)));
      if (!alive.includes(true)) break;
      await sleep(20);
    }
  }
  return total;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** The command line, environment and stdin of one sandboxed execution, and its proxy. */
async function sandboxed(
  request: RunnerRequest,
  options: ProcessRunnerOptions,
  features: BubblewrapFeatures,
): Promise<{
  argv: string[];
  env: Record<string, string>;
  proxy: EgressProxy | undefined;
  stdin: number | "ignore";
}> {
  await writeSandboxFiles(request.ioDir);
  const netDir = `${request.ioDir}.net`;
  mkdirSync(netDir, { recursive: true, mode: 0o755 });
  const env: Record<string, string> = agentEnvironment(request, { home: SANDBOX.home });
  // An agent with nowhere to connect gets no proxy and no launcher: its sandbox has no
  // network at all, bubblewrap feeds its stdin, and it dies with devflow.
  const networked = request.egress.rules.length > 0;
  let proxy: EgressProxy | undefined;
  let stdin: number | "ignore" = "ignore";
  if (networked) {
    proxy = await startEgressProxy({
      socketPath: join(netDir, "proxy.sock"),
      policy: request.egress,
      ...(request.onEgressDenied === undefined ? {} : { onDenied: request.onEgressDenied }),
    });
    Object.assign(env, {
      DEVFLOW_SANDBOX: JSON.stringify({
        env: proxyEnvironment(),
        proxySocket: `${SANDBOX.netDir}/proxy.sock`,
        proxyPort: SANDBOX.proxyPort,
        forwards: loopbackForwards(request.egress.rules),
        deadlineMs: request.timeoutMs + 5_000,
        ...(request.command.stdinFile === undefined ? {} : { stdin: request.command.stdinFile }),
      }),
    });
  } else if (request.command.stdinFile !== undefined) {
    stdin = openSync(join(request.ioDir, relative(SANDBOX.io, request.command.stdinFile)), "r");
  }
  const argv = bubblewrapArgs({
    workspace: request.workspace,
    ioDir: request.ioDir,
    netDir,
    launcher: networked,
    readOnly: [
      ...(options.readOnly ?? []).map((path) => ({ source: path, target: path })),
      ...request.readOnly,
    ],
    command: request.command.argv,
    tools: request.command.tools ?? [],
    features,
  });
  env.PATH = argv.path;
  return { argv: argv.argv, env, proxy, stdin };
}

/**
 * Runs each agent as a process on this host — by default inside a bubblewrap
 * sandbox (src/runner/sandbox/bubblewrap.ts): its own user, pid, network, ipc and
 * uts namespaces, an unprivileged uid, the workspace and its execution directory
 * writable and the toolchain read-only, no view of devflow's processes or files,
 * and the network only through devflow's egress proxy. The whole sandbox dies
 * when the agent's parent does, when devflow does, or at the time limit. The
 * transcript is a file, so any process on this host can capture it; disposal by
 * a persisted pid checks that the process is still this execution's first.
 */
export function createProcessRunner(options: ProcessRunnerOptions = {}): Runner {
  const grace = options.killGraceMs ?? 5_000;
  const sandbox = options.sandbox ?? "bubblewrap";
  const running = new Map<string, Running>();
  let features: BubblewrapFeatures | undefined;

  /** The sandbox's features, probed once; a host where it cannot work refuses to run agents. */
  function sandboxFeatures(): BubblewrapFeatures {
    if (features !== undefined) return features;
    const probe = probeBubblewrap();
    if (!probe.ok) {
      throw new DevflowError(`agents cannot be sandboxed on this host: ${probe.problem}`, {
        class: "recoverable",
        code: "sandbox_unavailable",
        category: "runner",
        recoveryHint: probe.fix,
      });
    }
    features = { disableUserns: probe.disableUserns };
    return features;
  }

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
    view: ({ workspace, ioDir }) =>
      sandbox === "none"
        ? { workspace, io: ioDir, node: process.execPath, scriptedAgent: SCRIPTED_AGENT_PATH }
        : {
            workspace: SANDBOX.workspace,
            io: SANDBOX.io,
            node: process.execPath,
            scriptedAgent: SCRIPTED_AGENT_PATH,
          },
    async start(request) {
      const log = join(request.ioDir, "transcript.log");
      const home = join(request.ioDir, "home");
      mkdirSync(home, { recursive: true });
      const [program] = request.command.argv;
      if (program === undefined)
        throw new DevflowError("the agent command is empty", {
          class: "fatal",
          code: "agent_not_configured",
          category: "agent_error",
        });
      let argv: string[];
      let env: Record<string, string>;
      let proxy: EgressProxy | undefined;
      let stdin: number | "ignore" = "ignore";
      if (sandbox === "bubblewrap") {
        ({ argv, env, proxy, stdin } = await sandboxed(request, options, sandboxFeatures()));
      } else {
        argv = request.command.argv;
        env = agentEnvironment(request, {
          home,
          ...(process.env.PATH === undefined ? {} : { path: process.env.PATH }),
        });
        if (request.command.stdinFile !== undefined)
          stdin = openSync(request.command.stdinFile, "r");
      }
      const out = openSync(log, "a");
      const [command, ...args] = argv as [string, ...string[]];
      const child = spawn(command, args, {
        cwd: sandbox === "none" ? request.workspace : "/",
        env,
        detached: true,
        stdio: [stdin, out, out],
      });
      closeSync(out);
      if (typeof stdin === "number") closeSync(stdin);
      const entry: Running = {
        child,
        done: Promise.resolve({ exitCode: null, timedOut: false, stopped: false }),
        stopRequested: false,
        proxy,
      };
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        if (child.pid !== undefined) void stopGroup(child.pid, entry);
      }, request.timeoutMs);
      entry.done = new Promise<RunnerExit>((resolve) => {
        child.once("error", async (error) => {
          clearTimeout(timer);
          await proxy?.close();
          const message =
            sandbox === "bubblewrap"
              ? `bubblewrap could not start: ${error.message} (install Debian's bubblewrap package; devflow doctor checks it)`
              : `${command}: ${error.message} (is the agent installed where the runner runs?)`;
          await appendFile(
            log,
            `devflow-error: ${JSON.stringify({ code: sandbox === "bubblewrap" ? "sandbox_unavailable" : "agent_unavailable", fatal: true, message })}\n`,
          );
          resolve({ exitCode: 127, timedOut: false, stopped: false });
        });
        child.once("exit", async (code) => {
          clearTimeout(timer);
          const leftovers = await killLeftovers(request.executionId).catch(() => 0);
          if (leftovers > 0)
            await appendFile(
              log,
              `\ndevflow: ${leftovers} process(es) of this execution outlived it and were killed\n`,
            ).catch(() => undefined);
          await proxy?.close();
          resolve({
            exitCode: timedOut || entry.stopRequested ? null : code,
            timedOut,
            stopped: entry.stopRequested && !timedOut,
            ...(proxy === undefined ? {} : { egressDenied: proxy.denials() }),
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
    async reap(isOver) {
      // A sandbox dies with the worker that started it; this finds what outlived its
      // execution anyway (an unsandboxed agent's detached children, a stuck stop).
      const processes = await executionProcesses();
      const over = await isOver([...processes.keys()]);
      const reaped: string[] = [];
      for (const [executionId, pids] of processes) {
        if (!over.has(executionId) || running.has(executionId)) continue;
        for (const pid of pids) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // Gone already.
          }
        }
        reaped.push(executionId);
      }
      return reaped;
    },
  };
}
