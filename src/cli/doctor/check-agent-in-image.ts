import type { Settings } from "../../settings.ts";
import type { Check } from "./check.ts";
import { dockerClient } from "./docker-client.ts";

/** Whether the runner image has the agent's program, asked of a throwaway container. */
export async function checkAgentInImage(settings: Settings, executable: string): Promise<Check> {
  const docker = dockerClient(settings);
  try {
    const container = await docker.createContainer({
      Image: settings.docker.image,
      Entrypoint: ["sh", "-c", 'command -v "$0"', executable],
      Cmd: [],
      HostConfig: { NetworkMode: "none", AutoRemove: false },
    });
    try {
      await container.start();
      const { StatusCode } = (await container.wait()) as { StatusCode: number };
      return StatusCode === 0
        ? {
            name: "agent CLI",
            status: "ok",
            detail: `${executable} is in ${settings.docker.image}`,
          }
        : {
            name: "agent CLI",
            status: "fail",
            detail: `${executable} is not in the image ${settings.docker.image}`,
            fix: `rebuild the runner image with it: docker build --target runner --build-arg AGENT_CLIS=<list> -t ${settings.docker.image} .`,
          };
    } finally {
      await container.remove({ force: true }).catch(() => {});
    }
  } catch (error) {
    return {
      name: "agent CLI",
      status: "fail",
      detail: `could not look inside ${settings.docker.image}: ${(error as Error).message}`,
      fix: "fix the runner check above first",
    };
  }
}
