import { afterAll, beforeAll, describe, it } from "vitest";
import { createDockerRunner } from "../../src/runner/backends/docker-runner.ts";
import { dockerForTests } from "../helpers/docker-for-tests.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";
import { expectTranscriptFloodBounded } from "../helpers/transcript-flood.ts";

const docker = await dockerForTests();
/** The default cap (DEVFLOW_TRANSCRIPT_MAX_MB=16): a runner built without the option keeps this much. */
const DEFAULT_CAP = 16 * 1024 * 1024;

describe.skipIf(!docker.available)("a transcript flood in the docker runner", () => {
  let h: Harness;
  const runner = createDockerRunner({
    image: docker.image,
    network: "none",
    cpus: 1,
    memoryMb: 512,
    pids: 128,
    ...(docker.socketPath === undefined ? {} : { socketPath: docker.socketPath }),
  });
  beforeAll(async () => {
    h = await startHarness({ runner, workers: false });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it("300 000 lines: devflow's memory stays flat, the first 16 MiB are kept with a note of the rest", async () => {
    await expectTranscriptFloodBounded(h, runner, DEFAULT_CAP);
  }, 300_000);
});
