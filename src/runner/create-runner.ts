import { join } from "node:path";
import type { Settings } from "../settings.ts";
import { createDockerRunner } from "./backends/docker-runner.ts";
import { createProcessRunner } from "./backends/process-runner.ts";
import { createInProcessRunner } from "./in-process-runner.ts";
import type { Runner } from "./runner.ts";

/** The runner backend `DEVFLOW_RUNNER` names. */
export function createRunner(
  settings: Pick<
    Settings,
    | "runner"
    | "docker"
    | "sandbox"
    | "sandboxReadOnly"
    | "sandboxLimits"
    | "sandboxCgroup"
    | "transcriptMaxBytes"
    | "dataDir"
  >,
): Runner {
  switch (settings.runner) {
    case "docker":
      return createDockerRunner({
        image: settings.docker.image,
        network: settings.docker.network,
        cpus: settings.docker.cpus,
        memoryMb: settings.docker.memoryMb,
        pids: settings.docker.pids,
        transcriptMaxBytes: settings.transcriptMaxBytes,
        ...(settings.docker.socketPath === undefined
          ? {}
          : { socketPath: settings.docker.socketPath }),
      });
    case "in-process":
      return createInProcessRunner();
    default:
      return createProcessRunner({
        sandbox: settings.sandbox,
        readOnly: settings.sandboxReadOnly,
        transcriptMaxBytes: settings.transcriptMaxBytes,
        limits: settings.sandboxLimits,
        ...(settings.sandboxCgroup === undefined ? {} : { cgroup: settings.sandboxCgroup }),
        executionsDir: join(settings.dataDir, "executions"),
      });
  }
}
