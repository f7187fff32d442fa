import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SCRIPTED_AGENT_PATH } from "../../agents/scripted/scripted-adapter.ts";
import { DevflowError } from "../../errors.ts";
import { DEFAULT_SANDBOX_LIMITS, type SandboxLimits } from "../../security/execution-limits.ts";
import { agentEnvironment } from "../agent-environment.ts";
import { executionGone, type Runner, type RunnerExit, type RunnerHandle } from "../runner.ts";
import type { BubblewrapFeatures } from "../sandbox/bubblewrap.ts";
import type { EgressProxy } from "../sandbox/egress-proxy.ts";
import { takeBack } from "../sandbox/hand-over.ts";
import { probeBubblewrap } from "../sandbox/probe-bubblewrap.ts";
import { executionFiles, sandboxCommand } from "../sandbox/sandbox-command.ts";
import {
  type CgroupSupport,
  type ExecutionCgroup,
  probeCgroups,
  reapCgroups,
} from "../sandbox/sandbox-limits.ts";
import { sandboxUser } from "../sandbox/sandbox-user.ts";
import { SANDBOX } from "../sandbox/sandbox-view.ts";
import {
  DEFAULT_TRANSCRIPT_MAX_BYTES,
  openTranscriptReader,
  openTranscriptSink,
  type TranscriptReader,
  type TranscriptSink,
} from "../transcript-file.ts";
import { removeTree } from "../workspaces/remove-tree.ts";
import { executionProcesses, killLeftovers, ownsProcess } from "./process-leftovers.ts";

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
  /** What is kept of an execution's output (DEVFLOW_TRANSCRIPT_MAX_MB). */
  transcriptMaxBytes?: number;
  /** Each sandbox's processes, memory and /tmp (DEVFLOW_SANDBOX_PIDS, _MEMORY_MB, _TMP_MB). */
  limits?: SandboxLimits;
  /** A delegated cgroup v2 group to make executions' groups in (DEVFLOW_SANDBOX_CGROUP). */
  cgroup?: string;
  /** Where executions' directories are, so `reap` removes those a dead worker left. */
  executionsDir?: string;
}

interface Running {
  child: ChildProcess;
  done: Promise<RunnerExit>;
  finished: boolean;
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

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** Removes everything of one execution on this host: its directory and devflow's files beside it. */
async function removeExecutionFiles(ioDir: string): Promise<void> {
  const files = executionFiles(ioDir);
  for (const path of [files.ioDir, files.netDir, files.stageDir, files.log]) await removeTree(path);
}

/** Waits until `child`'s pipes are closed (every writer gone), at most `ms`. */
async function drained(child: ChildProcess, ms: number): Promise<void> {
  const ends = [child.stdout, child.stderr].map(
    (stream) =>
      new Promise<void>((resolve) => {
        if (stream === null || stream.readableEnded || stream.destroyed) resolve();
        else stream.once("close", () => resolve());
      }),
  );
  await Promise.race([Promise.all(ends), sleep(ms)]);
  child.stdout?.destroy();
  child.stderr?.destroy();
}

/**
 * Runs each agent as a process on this host — by default inside a bubblewrap
 * sandbox (src/runner/sandbox/bubblewrap.ts): its own user, pid, network, ipc and
 * uts namespaces; as root, a host uid of its own that owns nothing else
 * (src/runner/sandbox/sandbox-user.ts); its own cgroup with a process and memory
 * limit where the host lets devflow make one, and a bounded /tmp; the workspace
 * and its execution directory writable and the toolchain read-only; no view of
 * devflow's processes or files; no descriptor but its stdio; and the network only
 * through devflow's egress proxy. Its output comes through pipes devflow holds
 * into a capped file of devflow's that no sandbox sees. The whole sandbox dies when
 * the agent's parent does, when devflow does, or at the time limit; what it wrote
 * is then taken back (no set-id file, nothing of its uid left), and disposal
 * removes the execution's files.
 */
export function createProcessRunner(options: ProcessRunnerOptions = {}): Runner {
  const grace = options.killGraceMs ?? 5_000;
  const sandbox = options.sandbox ?? "bubblewrap";
  const limits = options.limits ?? DEFAULT_SANDBOX_LIMITS;
  const maxBytes = options.transcriptMaxBytes ?? DEFAULT_TRANSCRIPT_MAX_BYTES;
  const running = new Map<string, Running>();
  const readers = new Map<string, TranscriptReader>();
  let features: BubblewrapFeatures | undefined;
  let cgroups: CgroupSupport | undefined;

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
    features = { disableUserns: probe.disableUserns, tmpfsSize: probe.tmpfsSize };
    return features;
  }

  function cgroupSupport(): CgroupSupport {
    cgroups ??= probeCgroups(options.cgroup);
    return cgroups;
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

  /** After the first process is gone: what outlived it killed, the pipes drained, the files taken back. */
  async function settle(
    request: { executionId: string; workspace: string; ioDir: string },
    child: ChildProcess,
    sink: TranscriptSink,
    cgroup: ExecutionCgroup | undefined,
  ): Promise<void> {
    const inGroup = (await cgroup?.kill().catch(() => 0)) ?? 0;
    // Without a group that holds them all, what carries the execution's id is found by scanning.
    const leftovers =
      cgroup?.holdsAll === true ? 0 : await killLeftovers(request.executionId).catch(() => 0);
    const outlived = Math.max(inGroup, leftovers);
    await drained(child, 5_000);
    if (outlived > 0)
      sink.write(
        `\ndevflow: ${outlived} process(es) of this execution outlived it and were killed\n`,
      );
    await cgroup?.remove().catch(() => undefined);
    const taken = await takeBack([request.workspace, request.ioDir]);
    const name = (path: string) => {
      const shown = path.replace(request.workspace, "/workspace");
      return shown.length > 160 ? `${shown.slice(0, 80)}…${shown.slice(-79)}` : shown;
    };
    if (taken.setId.length > 0)
      sink.write(
        `devflow: the agent left ${taken.setId.length} set-user-ID or set-group-ID file(s), no longer so: ${taken.setId.slice(0, 5).map(name).join(", ")}\n`,
      );
    if (taken.special.length > 0)
      sink.write(
        `devflow: the agent left ${taken.special.length} FIFO(s) or socket(s), removed: ${taken.special.slice(0, 5).map(name).join(", ")}\n`,
      );
    await sink.close();
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
      const files = executionFiles(request.ioDir);
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
      let cgroup: ExecutionCgroup | undefined;
      let stdin: number | "ignore" = "ignore";
      if (sandbox === "bubblewrap") {
        const setup = {
          user: await sandboxUser(request.executionId),
          cgroups: cgroupSupport(),
          limits,
          features: sandboxFeatures(),
        };
        ({ argv, env, proxy, stdin, cgroup } = await sandboxCommand(request, options, setup));
      } else {
        argv = request.command.argv;
        env = agentEnvironment(request, {
          home,
          ...(process.env.PATH === undefined ? {} : { path: process.env.PATH }),
        });
        if (request.command.stdinFile !== undefined)
          stdin = openSync(request.command.stdinFile, "r");
      }
      const sink = openTranscriptSink(files.log, { maxBytes });
      const [command, ...args] = argv as [string, ...string[]];
      const child = spawn(command, args, {
        cwd: sandbox === "none" ? request.workspace : "/",
        env,
        detached: true,
        stdio: [stdin, "pipe", "pipe"],
      });
      if (typeof stdin === "number") closeSync(stdin);
      child.stdout?.on("data", (data: Buffer) => sink.write(data));
      child.stderr?.on("data", (data: Buffer) => sink.write(data));
      const entry: Running = {
        child,
        done: Promise.resolve({ exitCode: null, timedOut: false, stopped: false }),
        finished: false,
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
          await proxy?.close();
          await cgroup?.remove().catch(() => undefined);
          const message =
            sandbox === "bubblewrap"
              ? `bubblewrap could not start: ${error.message} (install Debian's bubblewrap package; devflow doctor checks it)`
              : `${command}: ${error.message} (is the agent installed where the runner runs?)`;
          sink.write(
            `devflow-error: ${JSON.stringify({ code: sandbox === "bubblewrap" ? "sandbox_unavailable" : "agent_unavailable", fatal: true, message })}\n`,
          );
          await sink.close();
          entry.finished = true;
          resolve({ exitCode: 127, timedOut: false, stopped: false });
        });
        child.once("exit", async (code) => {
          clearTimeout(timer);
          await settle(request, child, sink, cgroup).catch(() => sink.close());
          await proxy?.close();
          entry.finished = true;
          resolve({
            exitCode: timedOut || entry.stopRequested ? null : code,
            timedOut,
            stopped: entry.stopRequested && !timedOut,
            ...(proxy === undefined ? {} : { egressDenied: proxy.denials() }),
          });
        });
      });
      running.set(request.executionId, entry);
      return {
        executionId: request.executionId,
        pid: child.pid ?? -1,
        log: files.log,
        ioDir: request.ioDir,
      };
    },
    async wait(handle) {
      const entry = running.get(field(handle, "executionId"));
      if (entry === undefined) return { exitCode: null, timedOut: false, stopped: true };
      return entry.done;
    },
    async capture(handle, fromSeq, limits) {
      const executionId = field(handle, "executionId");
      const entry = running.get(executionId);
      let reader = readers.get(executionId);
      if (reader === undefined) {
        reader = openTranscriptReader(field(handle, "log"));
        readers.set(executionId, reader);
      }
      try {
        return await reader.read(fromSeq, {
          ...limits,
          final: entry === undefined || entry.finished,
        });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") {
          readers.delete(executionId);
          throw executionGone("transcript", error);
        }
        throw error;
      }
    },
    async dispose(handle) {
      const executionId = field(handle, "executionId");
      const pid = Number(handle.pid);
      const entry = running.get(executionId);
      if (entry !== undefined && !entry.finished) {
        // Stopped while it runs: its transcript is still to be read; the files go
        // when it is disposed of once over.
        entry.stopRequested = true;
        await stopGroup(pid, entry);
        return;
      }
      if (entry === undefined && pid > 0 && (await ownsProcess(pid, executionId)))
        await stopGroup(pid, undefined);
      running.delete(executionId);
      readers.delete(executionId);
      // A handle from before devflow kept the transcript beside the agent's files names
      // only the log, inside the execution's directory.
      const ioDir = typeof handle.ioDir === "string" ? handle.ioDir : dirname(field(handle, "log"));
      await removeExecutionFiles(ioDir);
    },
    async reap(isOver) {
      // A sandbox dies with the worker that started it; this finds what outlived its
      // execution anyway (an unsandboxed agent's detached children, a stuck stop, a
      // group a dead worker left) and the files of executions that are over.
      const processes = await executionProcesses();
      const over = await isOver([...processes.keys()]);
      const reaped = new Set<string>();
      for (const [executionId, pids] of processes) {
        if (!over.has(executionId) || running.has(executionId)) continue;
        for (const pid of pids) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // Gone already.
          }
        }
        reaped.add(executionId);
      }
      if (sandbox === "bubblewrap") {
        const groups = await reapCgroups(cgroupSupport(), async (ids) => {
          const mine = ids.filter((id) => !running.has(id));
          return isOver(mine);
        });
        for (const id of groups) reaped.add(id);
      }
      if (options.executionsDir !== undefined) {
        const names = await readdir(options.executionsDir).catch(() => [] as string[]);
        const ids = [...new Set(names.map((name) => name.split(".")[0] ?? name))].filter(
          (id) => !running.has(id),
        );
        const done = ids.length === 0 ? new Set<string>() : await isOver(ids);
        for (const id of done)
          await removeExecutionFiles(join(options.executionsDir, basename(id)));
      }
      return [...reaped];
    },
  };
}
