import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Docker from "dockerode";
import { DevflowError } from "../../errors.ts";
import { agentEnvironment } from "../agent-environment.ts";
import {
  executionGone,
  type Runner,
  type RunnerExit,
  type RunnerHandle,
  toChunks,
} from "../runner.ts";

export interface DockerRunnerOptions {
  /** The runner image: `Dockerfile --target runner`, with git, node and the agent CLIs. */
  image: string;
  /** `none` (the default) or a Docker network the agent may use, e.g. to reach its model API. */
  network: string;
  cpus: number;
  memoryMb: number;
  pids: number;
  /** The Docker Engine socket; `DOCKER_HOST`'s or the default one when absent. */
  socketPath?: string;
}

const IN_CONTAINER = {
  workspace: "/workspace",
  io: "/devflow",
  node: "node",
  scriptedAgent: "/opt/devflow/agents/scripted/cli.ts",
} as const;

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

/**
 * One container per execution through the Docker Engine API: the workspace and
 * the execution's own directory bind-mounted, CPU, memory and pids limits, all
 * capabilities dropped, no new privileges, and no network unless one is
 * configured. The transcript is the container's log, read before the container
 * is removed; removing it also stops it.
 */
export function createDockerRunner(options: DockerRunnerOptions): Runner {
  const docker = new Docker(
    options.socketPath === undefined ? {} : { socketPath: options.socketPath },
  );
  /** Executions being waited on, and whether a stop was asked for meanwhile. */
  const waiting = new Map<string, { stopped: boolean }>();

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

  return {
    backend: "docker",
    view: () => ({ ...IN_CONTAINER }),
    async start(request) {
      mkdirSync(join(request.ioDir, "home"), { recursive: true });
      const env = agentEnvironment(request, { home: `${IN_CONTAINER.io}/home` });
      // Feed stdin from a file the way a shell would: the container has /bin/sh.
      const cmd =
        request.command.stdinFile === undefined
          ? request.command.argv
          : ["/bin/sh", "-c", 'exec "$@" < "$DEVFLOW_STDIN"', "agent", ...request.command.argv];
      if (request.command.stdinFile !== undefined) env.DEVFLOW_STDIN = request.command.stdinFile;
      try {
        const container = await docker.createContainer({
          Image: options.image,
          Cmd: cmd,
          WorkingDir: IN_CONTAINER.workspace,
          Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
          Labels: {
            "dev.devflow.run": request.runId,
            "dev.devflow.execution": request.executionId,
          },
          HostConfig: {
            Binds: [
              `${request.workspace}:${IN_CONTAINER.workspace}:rw`,
              `${request.ioDir}:${IN_CONTAINER.io}:rw`,
            ],
            NetworkMode: options.network,
            NanoCpus: Math.round(options.cpus * 1e9),
            Memory: options.memoryMb * 1024 * 1024,
            PidsLimit: options.pids,
            CapDrop: ["ALL"],
            SecurityOpt: ["no-new-privileges"],
          },
        });
        await container.start();
        return {
          executionId: request.executionId,
          containerId: container.id,
          timeoutMs: request.timeoutMs,
        };
      } catch (error) {
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
      try {
        const result = (await container.wait()) as { StatusCode: number };
        const stopped = watch.stopped && !timedOut;
        return { exitCode: timedOut || stopped ? null : result.StatusCode, timedOut, stopped };
      } catch (error) {
        // The container was removed while we waited: stopped from elsewhere.
        if (statusCode(error) === 404) return { exitCode: null, timedOut, stopped: !timedOut };
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
      }
    },
  };
}
