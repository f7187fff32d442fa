import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Docker from "dockerode";
import { DevflowError } from "../../errors.ts";
import { WORKER_ID } from "../../log.ts";
import { agentEnvironment } from "../agent-environment.ts";
import {
  executionGone,
  type Runner,
  type RunnerExit,
  type RunnerHandle,
  type RunnerRequest,
  toChunks,
} from "../runner.ts";
import { type EgressProxy, startEgressProxy } from "../sandbox/egress-proxy.ts";
import { handOver } from "../sandbox/hand-over.ts";
import {
  loopbackForwards,
  proxyEnvironment,
  SANDBOX,
  writeSandboxFiles,
} from "../sandbox/sandbox-view.ts";

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

/** Docker's log stream without a TTY: frames of [stream, 0, 0, 0, size (4 bytes BE)] + payload. */
export function demuxDockerLogs(buffer: Buffer): string {
  let text = "";
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    text += buffer.subarray(offset + 8, offset + 8 + size).toString("utf8");
    offset += 8 + size;
  }
  return text;
}

/** The user agents run as: devflow's own when it is not root, else the image's unprivileged one. */
function agentUser(): { uid: number; gid: number } {
  const uid = process.getuid?.() ?? SANDBOX.uid;
  return uid === 0
    ? { uid: SANDBOX.uid, gid: SANDBOX.gid }
    : { uid, gid: process.getgid?.() ?? SANDBOX.gid };
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
 * the container's log, read before the container is removed.
 */
export function createDockerRunner(options: DockerRunnerOptions): Runner {
  const docker = new Docker(
    options.socketPath === undefined ? {} : { socketPath: options.socketPath },
  );
  /** Executions being waited on, and whether a stop was asked for meanwhile. */
  const waiting = new Map<string, { stopped: boolean }>();
  const proxies = new Map<string, EgressProxy>();

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

  async function createFor(request: RunnerRequest, netDir: string) {
    const user = agentUser();
    const sandboxFiles = join(request.ioDir, "sandbox");
    const env = {
      ...agentEnvironment(request, { home: HOME, path: PATH }),
      DEVFLOW_SANDBOX: JSON.stringify({
        env: proxyEnvironment(),
        proxySocket: `${SANDBOX.netDir}/proxy.sock`,
        proxyPort: SANDBOX.proxyPort,
        forwards: loopbackForwards(request.egress.rules),
        deadlineMs: request.timeoutMs + 5_000,
        ...(request.command.stdinFile === undefined ? {} : { stdin: request.command.stdinFile }),
      }),
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
      const user = agentUser();
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
      try {
        const container = await createFor(request, netDir);
        await container.start();
        proxies.set(container.id, proxy);
        return {
          executionId: request.executionId,
          containerId: container.id,
          timeoutMs: request.timeoutMs,
        };
      } catch (error) {
        await proxy.close();
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
      }
    },
    async capture(handle, fromSeq) {
      try {
        const logs = (await containerOf(handle).logs({
          stdout: true,
          stderr: true,
          follow: false,
        })) as unknown as Buffer;
        return toChunks(demuxDockerLogs(Buffer.from(logs)), fromSeq);
      } catch (error) {
        if (statusCode(error) === 404) {
          throw executionGone("container", error);
        }
        throw error;
      }
    },
    async dispose(handle) {
      const container = containerOf(handle);
      const watch = waiting.get(container.id);
      if (watch !== undefined) watch.stopped = true;
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
