import Docker from "dockerode";
import {
  createDockerRunner,
  type DockerRunnerOptions,
} from "../../src/runner/backends/docker-runner.ts";
import type { Runner } from "../../src/runner/runner.ts";

export interface DockerForTests {
  available: boolean;
  reason: string;
  docker: Docker;
  image: string;
  socketPath: string | undefined;
}

/**
 * The Docker Engine the docker tests use: DOCKER_HOST's (a unix socket) or the
 * default one, with the runner image DEVFLOW_TEST_DOCKER_IMAGE (built by .ci/run).
 * Where there is none the tests are skipped with the reason printed — unless
 * DEVFLOW_REQUIRE_DOCKER=1 (CI), where a missing engine fails them.
 */
export async function dockerForTests(): Promise<DockerForTests> {
  const host = process.env.DOCKER_HOST;
  const socketPath = host?.startsWith("unix://") ? host.slice("unix://".length) : undefined;
  const docker = new Docker(socketPath === undefined ? {} : { socketPath });
  const image = process.env.DEVFLOW_TEST_DOCKER_IMAGE ?? "devflow-runner:test";
  let reason = "";
  try {
    await docker.ping();
    try {
      await docker.getImage(image).inspect();
    } catch {
      reason = `the runner image ${image} is not built (bash .ci/run builds it)`;
    }
  } catch (error) {
    reason = `no Docker Engine at ${socketPath ?? "the default socket"}: ${(error as Error).message}`;
  }
  if (reason !== "" && process.env.DEVFLOW_REQUIRE_DOCKER === "1") {
    throw new Error(`DEVFLOW_REQUIRE_DOCKER=1 but ${reason}`);
  }
  if (reason !== "") process.stdout.write(`docker tests skipped: ${reason}\n`);
  return { available: reason === "", reason, docker, image, socketPath };
}

/**
 * A Docker runner on the tests' engine and image with small limits (1 CPU, 512 MiB,
 * 128 processes, no network), showing `readOnly` host paths (the fixture agents) in
 * every container.
 */
export function dockerRunnerForTests(
  docker: DockerForTests,
  readOnly: string[] = [],
  options: Partial<DockerRunnerOptions> = {},
): Runner {
  return createDockerRunner({
    image: docker.image,
    network: "none",
    cpus: 1,
    memoryMb: 512,
    pids: 128,
    readOnly,
    ...(docker.socketPath === undefined ? {} : { socketPath: docker.socketPath }),
    ...options,
  });
}
