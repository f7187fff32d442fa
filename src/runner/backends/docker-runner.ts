import { mkdirSync } from "node:fs";
import { appendFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import Docker from "dockerode";
import { DevflowError } from "../../errors.ts";
import { WORKER_ID } from "../../log.ts";
import { agentEnvironment } from "../agent-environment.ts";
import {
  type CaptureOptions,
  executionGone,
  type Runner,
  type RunnerExit,
  type RunnerHandle,
  type RunnerRequest,
  type TranscriptChunk,
} from "../runner.ts";
import { type EgressProxy, startEgressProxy } from "../sandbox/egress-proxy.ts";
import { handOver, takeBack } from "../sandbox/hand-over.ts";
import { type SandboxUser, sandboxUser } from "../sandbox/sandbox-user.ts";
import { launcherConfig, SANDBOX, writeSandboxFiles } from "../sandbox/sandbox-view.ts";
import {
  DEFAULT_TRANSCRIPT_MAX_BYTES,
  openTranscriptReader,
  openTranscriptSink,
  type TranscriptReader,
  type TranscriptSink,
} from "../transcript-file.ts";
import { removeTree } from "../workspaces/remove-tree.ts";

export interface DockerRunnerOptions {
  /** The runner image: `Dockerfile --target runner`, with git, node and the agent CLIs. */
  image: string;
  /**
   * `none` (the default): the agent reaches nothing but devflow's egress proxy. Any
   * other network also lets it around the allowlist; doctor says so.
   */
  network: string;
  cpus: number;
  memoryMb: number;
  pids: number;
  /** The Docker Engine socket; `DOCKER_HOST`'s or the default one when absent. */
  socketPath?: string;
  /** Host paths every container shows read-only at the same path (DEVFLOW_SANDBOX_READ_ONLY). */
  readOnly?: string[];
  /** What devflow keeps of an execution's output (DEVFLOW_TRANSCRIPT_MAX_MB); 16 MiB by default. */
  transcriptMaxBytes?: number;
}

/** The label every agent container carries, with its execution id: how the reaper finds them. */
export const EXECUTION_LABEL = "dev.devflow.execution";
const DEADLINE_LABEL = "dev.devflow.deadline";
/** The agent's home: a tmpfs owned by the agent's user. */
const HOME = "/home/agent";
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function statusCode(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}

/** How long the log may take to reach its end once the container has: what is still in flight. */
const LOG_DRAIN_MS = 30_000;

/**
 * Where devflow keeps an execution's output: beside its directory, which the
 * container mounts, not in it — the agent can neither write the file nor swap it.
 */
export function transcriptPath(ioDir: string): string {
  return `${ioDir}.transcript.log`;
}

/**
 * Docker's log stream without a TTY, taken apart as it arrives: frames of
 * [stream, 0, 0, 0, size (4 bytes BE)] + payload, split anywhere between reads.
 * Each payload goes to `write` as it comes, so nothing is held but a header.
 */
function demux(write: (payload: Buffer) => void): (data: Buffer) => void {
  const header = Buffer.alloc(8);
  let headerBytes = 0;
  let payloadLeft = 0;
  return (data) => {
    let offset = 0;
    while (offset < data.length) {
      if (payloadLeft > 0) {
        const end = Math.min(data.length, offset + payloadLeft);
        write(data.subarray(offset, end));
        payloadLeft -= end - offset;
        offset = end;
        continue;
      }
      const end = Math.min(data.length, offset + 8 - headerBytes);
      data.copy(header, headerBytes, offset, end);
      headerBytes += end - offset;
      offset = end;
      if (headerBytes === 8) {
        payloadLeft = header.readUInt32BE(4);
        headerBytes = 0;
      }
    }
  };
}

/** Passes a log stream's payloads to `write` until the stream ends, however it ends. */
function copyLog(stream: Readable, write: (payload: Buffer) => void): Promise<void> {
  return new Promise((resolve) => {
    stream.on("data", demux(write));
    stream.once("end", resolve);
    stream.once("close", resolve);
    stream.once("error", () => resolve());
  });
}

/** The container's log as it is now, as a stream (dockerode buffers a log it does not follow). */
function logStream(docker: Docker, containerId: string, signal: AbortSignal): Promise<Readable> {
  return new Promise((resolve, reject) => {
    docker.modem.dial(
      {
        path: `/containers/${containerId}/logs?`,
        method: "GET",
        isStream: true,
        abortSignal: signal,
        statusCodes: { 200: true, 404: "no such container", 500: "server error" },
        options: { stdout: true, stderr: true },
      },
      (error, stream) => (error ? reject(error) : resolve(stream as Readable)),
    );
  });
}

/** How much of the log's start is compared before the log is trusted to continue the copy. */
const HEAD_CHECK = 4096;

/**
 * Copies a container's log into `sink` as the agent prints it, and closes the sink
 * once the log has ended. A follow can end before the agent's unfinished last line,
 * which Docker writes as the container stops, reaches it: so a copy that is not cut
 * is completed from the whole log once the container has stopped — when the log
 * still starts as the copy does (one that rotated its start away cannot say where
 * the copy ended).
 */
async function keepLog(
  docker: Docker,
  containerId: string,
  follow: Readable,
  sink: TranscriptSink,
  maxBytes: number,
): Promise<void> {
  let seen = 0;
  const head = Buffer.alloc(HEAD_CHECK);
  await copyLog(follow, (payload) => {
    if (seen < HEAD_CHECK) payload.copy(head, seen, 0, HEAD_CHECK - seen);
    seen += payload.length;
    sink.write(payload);
  });
  try {
    if (seen >= maxBytes) return;
    const { State } = await docker.getContainer(containerId).inspect();
    if (State.Running) return;
    const whole = await logStream(docker, containerId, AbortSignal.timeout(LOG_DRAIN_MS));
    const checked = Math.min(seen, HEAD_CHECK);
    let offset = 0;
    let continues = true;
    await copyLog(whole, (payload) => {
      if (!continues) return;
      if (offset < checked) {
        const length = Math.min(payload.length, checked - offset);
        continues = payload.subarray(0, length).equals(head.subarray(offset, offset + length));
        if (!continues) {
          whole.destroy();
          return;
        }
      }
      if (offset + payload.length > seen) sink.write(payload.subarray(Math.max(0, seen - offset)));
      offset += payload.length;
    });
  } catch {
    // A container removed meanwhile: the copy stays as the follow left it.
  } finally {
    await sink.close();
  }
}

/** The log this process copies from a container it started, and how to read it. */
interface KeptLog {
  stream: Readable;
  reader: TranscriptReader;
  pumped: Promise<void>;
  /** The log has ended: its unfinished last line is a line. */
  done: boolean;
}

/** Removes everything of one execution on this host: its directory and devflow's files beside it. */
async function removeExecutionFiles(ioDir: string): Promise<void> {
  for (const path of [ioDir, `${ioDir}.net`, transcriptPath(ioDir)]) await removeTree(path);
}

/**
 * One hardened container per execution through the Docker Engine API: a
 * non-root user, a read-only root file system with tmpfs for /tmp and the home
 * directory, the workspace and the execution's own directory the only writable
 * mounts, CPU, memory (no swap beyond it), pids and log-size limits, every
 * capability dropped, no new privileges, an init process, and no network but
 * devflow's egress proxy. The launcher inside enforces the time limit too, so a
 * container whose worker died still stops; every container carries a devflow
 * label, and `reap` removes those of executions that are over. The transcript is
 * the container's log, followed from its start into a capped file of devflow's
 * beside the execution's directory (`transcriptPath`), which `capture` reads on
 * from where it stopped; a process that did not start the execution reads that
 * file by the path in the handle, or else the container's log through a capped
 * file of its own.
 */
export function createDockerRunner(options: DockerRunnerOptions): Runner {
  const docker = new Docker(
    options.socketPath === undefined ? {} : { socketPath: options.socketPath },
  );
  /** Executions being waited on, and whether a stop was asked for meanwhile. */
  const waiting = new Map<string, { stopped: boolean }>();
  const proxies = new Map<string, EgressProxy>();
  /** The logs this process copies, by container id, until the execution is disposed of. */
  const logs = new Map<string, KeptLog>();
  const maxBytes = options.transcriptMaxBytes ?? DEFAULT_TRANSCRIPT_MAX_BYTES;

  /** Executions whose files are taken back already (a container's end is seen by wait and dispose). */
  const settled = new Set<string>();

  /**
   * Once the container has ended: what its agent wrote is devflow's again, with no
   * set-id file, nothing writable by others and no FIFO or socket (bind mounts
   * keep set-id bits on the host), noted in the transcript.
   */
  async function settle(handle: RunnerHandle): Promise<void> {
    const { workspace, ioDir } = handle;
    const id = String(handle.containerId);
    if (typeof workspace !== "string" || typeof ioDir !== "string" || settled.has(id)) return;
    settled.add(id);
    const taken = await takeBack([workspace, ioDir]);
    const notes = [
      taken.setId.length === 0
        ? ""
        : `devflow: the agent left ${taken.setId.length} set-user-ID or set-group-ID file(s), no longer so\n`,
      taken.special.length === 0
        ? ""
        : `devflow: the agent left ${taken.special.length} FIFO(s) or socket(s), removed\n`,
    ].join("");
    if (notes === "") return;
    await appendFile(transcriptPath(ioDir), notes).catch(() => undefined);
  }

  /** Waits for a log to reach its end; one that does not within LOG_DRAIN_MS is cut there. */
  async function drained(containerId: string): Promise<void> {
    const log = logs.get(containerId);
    if (log === undefined) return;
    const timer = setTimeout(() => log.stream.destroy(), LOG_DRAIN_MS);
    await log.pumped;
    clearTimeout(timer);
  }

  /** The log of a container this process did not start (or no longer follows). */
  async function captureElsewhere(
    handle: RunnerHandle,
    containerId: string,
    fromSeq: number,
    limits: CaptureOptions,
  ): Promise<TranscriptChunk[]> {
    let running: boolean | undefined;
    try {
      running = (await docker.getContainer(containerId).inspect()).State.Running;
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
    }
    const final = running !== true;
    if (typeof handle.transcript === "string") {
      try {
        return await openTranscriptReader(handle.transcript).read(fromSeq, { ...limits, final });
      } catch (error) {
        // Another host's file, or one removed with its execution's files: the container's log may remain.
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
    }
    if (running === undefined) throw executionGone("container", undefined);
    // Copied to a capped file and read from there, like the log of an execution of this process.
    const dir = await mkdtemp(join(tmpdir(), "devflow-log-"));
    try {
      const path = join(dir, "transcript.log");
      const sink = openTranscriptSink(path, { maxBytes });
      const stream = await logStream(docker, containerId, AbortSignal.timeout(LOG_DRAIN_MS));
      await copyLog(stream, (payload) => sink.write(payload));
      await sink.close();
      return await openTranscriptReader(path).read(fromSeq, { ...limits, final });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  function containerOf(handle: RunnerHandle) {
    const id = handle.containerId;
    if (typeof id !== "string") {
      throw new DevflowError("docker handle has no containerId", {
        class: "fatal",
        code: "runner_handle_invalid",
        category: "runner",
      });
    }
    return docker.getContainer(id);
  }

  async function createFor(request: RunnerRequest, netDir: string, user: SandboxUser) {
    const sandboxFiles = join(request.ioDir, "sandbox");
    const env = {
      ...agentEnvironment(request, { home: HOME, path: PATH }),
      DEVFLOW_SANDBOX: launcherConfig(request),
    };
    return docker.createContainer({
      Image: options.image,
      Cmd: ["node", SANDBOX.init, ...request.command.argv],
      User: `${user.uid}:${user.gid}`,
      WorkingDir: SANDBOX.workspace,
      Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
      Labels: {
        "dev.devflow.run": request.runId,
        [EXECUTION_LABEL]: request.executionId,
        "dev.devflow.worker": WORKER_ID,
        [DEADLINE_LABEL]: new Date(Date.now() + request.timeoutMs + 60_000).toISOString(),
      },
      HostConfig: {
        Binds: [
          `${request.workspace}:${SANDBOX.workspace}:rw`,
          `${request.ioDir}:${SANDBOX.io}:rw`,
          `${join(sandboxFiles, "init.mjs")}:${SANDBOX.init}:ro`,
          `${join(sandboxFiles, "etc", "passwd")}:/etc/passwd:ro`,
          `${join(sandboxFiles, "etc", "group")}:/etc/group:ro`,
          `${netDir}:${SANDBOX.netDir}:ro`,
          // The image holds the agent's programs; the command's host tools are not
          // mounted (their paths may not exist where the engine runs).
          ...(options.readOnly ?? []).map((path) => `${path}:${path}:ro`),
          ...request.readOnly.map((mount) => `${mount.source}:${mount.target}:ro`),
        ],
        NetworkMode: options.network,
        ReadonlyRootfs: true,
        Tmpfs: {
          "/tmp": "rw,nosuid,nodev,size=1g",
          [HOME]: `rw,nosuid,nodev,size=1g,uid=${user.uid},gid=${user.gid},mode=0700`,
        },
        NanoCpus: Math.round(options.cpus * 1e9),
        Memory: options.memoryMb * 1024 * 1024,
        MemorySwap: options.memoryMb * 1024 * 1024,
        PidsLimit: options.pids,
        CapDrop: ["ALL"],
        SecurityOpt: ["no-new-privileges"],
        Init: true,
        LogConfig: { Type: "json-file", Config: { "max-size": "20m", "max-file": "2" } },
      },
    });
  }

  return {
    backend: "docker",
    view: () => ({
      workspace: SANDBOX.workspace,
      io: SANDBOX.io,
      node: "node",
      scriptedAgent: "/opt/devflow/agents/scripted/cli.ts",
    }),
    async start(request) {
      // As root, a host uid of the execution's own (no host account's, and not shared
      // with another sandbox); otherwise devflow's own.
      const user = await sandboxUser(request.executionId);
      await writeSandboxFiles(request.ioDir, { uid: user.uid, gid: user.gid, home: HOME });
      // The container's user owns what it must write; devflow (root) reads anything.
      await handOver([request.workspace, request.ioDir], user);
      const netDir = `${request.ioDir}.net`;
      mkdirSync(netDir, { recursive: true, mode: 0o755 });
      const proxy = await startEgressProxy({
        socketPath: join(netDir, "proxy.sock"),
        policy: request.egress,
        ...(request.onEgressDenied === undefined ? {} : { onDenied: request.onEgressDenied }),
      });
      const transcript = transcriptPath(request.ioDir);
      let sink: TranscriptSink | undefined;
      let container: Docker.Container | undefined;
      try {
        sink = openTranscriptSink(transcript, { maxBytes });
        container = await createFor(request, netDir, user);
        await container.start();
        // Followed from the start: the log holds what the agent printed before this call too.
        const stream = (await container.logs({
          follow: true,
          stdout: true,
          stderr: true,
        })) as unknown as Readable;
        const log: KeptLog = {
          stream,
          reader: openTranscriptReader(transcript),
          pumped: keepLog(docker, container.id, stream, sink, maxBytes),
          done: false,
        };
        void log.pumped.then(() => {
          log.done = true;
        });
        logs.set(container.id, log);
        proxies.set(container.id, proxy);
        return {
          executionId: request.executionId,
          containerId: container.id,
          timeoutMs: request.timeoutMs,
          transcript,
          workspace: request.workspace,
          ioDir: request.ioDir,
        };
      } catch (error) {
        await sink?.close();
        await proxy.close();
        // A container whose log devflow could not follow must not run unwatched.
        await container?.remove({ force: true }).catch(() => undefined);
        throw new DevflowError(
          `could not start a container from ${options.image}: ${(error as Error).message}`,
          {
            class: "recoverable",
            code: "runner_start_failed",
            category: "runner",
            cause: error,
          },
        );
      }
    },
    async wait(handle): Promise<RunnerExit> {
      const container = containerOf(handle);
      const limit = Number(handle.timeoutMs);
      let timedOut = false;
      const watch = { stopped: false };
      waiting.set(container.id, watch);
      const timer = setTimeout(() => {
        timedOut = true;
        container.kill().catch(() => {});
      }, limit);
      const proxy = proxies.get(container.id);
      const denied = () => (proxy === undefined ? {} : { egressDenied: proxy.denials() });
      try {
        const result = (await container.wait()) as { StatusCode: number };
        const stopped = watch.stopped && !timedOut;
        return {
          exitCode: timedOut || stopped ? null : result.StatusCode,
          timedOut,
          stopped,
          ...denied(),
        };
      } catch (error) {
        // The container was removed while we waited: stopped from elsewhere.
        if (statusCode(error) === 404) {
          return { exitCode: null, timedOut, stopped: !timedOut, ...denied() };
        }
        throw error;
      } finally {
        clearTimeout(timer);
        waiting.delete(container.id);
        // What the agent printed last is still on its way through the log.
        await drained(container.id);
        await settle(handle);
      }
    },
    async capture(handle, fromSeq, limits = {}) {
      const { id } = containerOf(handle);
      const log = logs.get(id);
      if (log === undefined) return captureElsewhere(handle, id, fromSeq, limits);
      return log.reader.read(fromSeq, { ...limits, final: log.done });
    },
    async dispose(handle) {
      const container = containerOf(handle);
      const watch = waiting.get(container.id);
      if (watch !== undefined) watch.stopped = true;
      // Stopped while it is waited on: its transcript is still to be read, and its
      // files go when it is disposed of once over.
      const over = watch === undefined;
      try {
        await container.remove({ force: true });
      } catch (error) {
        if (statusCode(error) !== 404) {
          throw new DevflowError(
            `could not remove container ${container.id}: ${(error as Error).message}`,
            {
              class: "recoverable",
              code: "runner_stop_failed",
              category: "runner",
              cause: error,
            },
          );
        }
      } finally {
        await proxies.get(container.id)?.close();
        proxies.delete(container.id);
        await drained(container.id);
        logs.delete(container.id);
      }
      if (over) {
        await settle(handle);
        if (typeof handle.ioDir === "string") await removeExecutionFiles(handle.ioDir);
      }
    },
    async reap(isOver) {
      const containers = await docker.listContainers({
        all: true,
        filters: { label: [EXECUTION_LABEL] },
      });
      const byExecution = new Map(
        containers.map((info) => [info.Labels[EXECUTION_LABEL] ?? "", info]),
      );
      const over = await isOver([...byExecution.keys()].filter((id) => id !== ""));
      const now = Date.now();
      const reaped: string[] = [];
      for (const [executionId, info] of byExecution) {
        const deadline = Date.parse(info.Labels[DEADLINE_LABEL] ?? "");
        if (!over.has(executionId) && !(deadline < now)) continue;
        try {
          await docker.getContainer(info.Id).remove({ force: true });
          reaped.push(executionId);
        } catch (error) {
          if (statusCode(error) !== 404) throw error;
        }
      }
      return reaped;
    },
  };
}
