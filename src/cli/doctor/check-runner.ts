import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Settings } from "../../settings.ts";
import type { Check } from "./check.ts";
import { dockerClient } from "./docker-client.ts";

const run = promisify(execFile);

/** Whether the configured runner can work here: git for the process runner, the engine and image for docker. */
export async function checkRunner(settings: Settings): Promise<Check[]> {
  switch (settings.runner) {
    case "in-process":
      return [
        {
          name: "runner",
          status: "warn",
          detail: "in-process: the scripted agent inside devflow's own process, for tests",
          fix: "set DEVFLOW_RUNNER=process or DEVFLOW_RUNNER=docker",
        },
      ];
    case "process":
      try {
        const { stdout } = await run("git", ["--version"]);
        return [
          {
            name: "runner",
            status: "ok",
            detail: `process: agents run as child processes of each worker (${stdout.trim()})`,
          },
        ];
      } catch {
        return [
          {
            name: "runner",
            status: "fail",
            detail: "git is not on PATH: workspaces cannot be checked out",
            fix: "install git (apt-get install git)",
          },
        ];
      }
    case "docker": {
      const docker = dockerClient(settings);
      try {
        await docker.ping();
      } catch (error) {
        return [
          {
            name: "runner",
            status: "fail",
            detail: `docker: no Docker Engine answers at ${settings.docker.socketPath ?? "/var/run/docker.sock"}: ${(error as Error).message}`,
            fix: "start dockerd, or set DOCKER_HOST=unix:///path/to/docker.sock",
          },
        ];
      }
      try {
        await docker.getImage(settings.docker.image).inspect();
      } catch {
        return [
          {
            name: "runner",
            status: "fail",
            detail: `docker: the image ${settings.docker.image} is not on this host`,
            fix: `build it: docker build --target runner -t ${settings.docker.image} . (or set DEVFLOW_DOCKER_IMAGE)`,
          },
        ];
      }
      return [
        {
          name: "runner",
          status: "ok",
          detail: `docker: image ${settings.docker.image}, network ${settings.docker.network}`,
        },
      ];
    }
  }
}
