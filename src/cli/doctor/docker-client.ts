import Docker from "dockerode";
import type { Settings } from "../../settings.ts";

/** The Docker Engine the docker runner would use: DOCKER_HOST's socket, or dockerode's default. */
export function dockerClient(settings: Pick<Settings, "docker">): Docker {
  return new Docker(
    settings.docker.socketPath === undefined ? {} : { socketPath: settings.docker.socketPath },
  );
}
