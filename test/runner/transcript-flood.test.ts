import { afterAll, beforeAll, describe, it } from "vitest";
import { createProcessRunner } from "../../src/runner/backends/process-runner.ts";
import type { Runner } from "../../src/runner/runner.ts";
import { dockerForTests, dockerRunnerForTests } from "../helpers/docker-for-tests.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";
import { expectTranscriptFloodBounded } from "../helpers/transcript-flood.ts";

const docker = await dockerForTests();
/** The default cap (DEVFLOW_TRANSCRIPT_MAX_MB=16): a runner built without the option keeps this much. */
const DEFAULT_CAP = 16 * 1024 * 1024;

/** Each backend runs the same flood. */
const backends: { name: string; available: boolean; runner: () => Runner }[] = [
  { name: "process", available: true, runner: () => createProcessRunner({ killGraceMs: 500 }) },
  {
    name: "docker",
    available: docker.available,
    runner: () => dockerRunnerForTests(docker),
  },
];

describe.each(backends)("a transcript flood in the $name runner", (backend) => {
  let h: Harness;
  let runner: Runner;
  beforeAll(async () => {
    if (!backend.available) return;
    runner = backend.runner();
    h = await startHarness({ runner, workers: false });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it.skipIf(!backend.available)(
    "300 000 lines: devflow's memory stays flat, the first 16 MiB are kept with a note of the rest",
    async () => {
      await expectTranscriptFloodBounded(h, runner, DEFAULT_CAP);
    },
    300_000,
  );
});
