/**
 * A devflow worker in its own process, for tests that kill one: `node
 * test/helpers/worker-process.ts <databaseUrl>`. Prints `ready` once its workers
 * are registered.
 */
import pino from "pino";
import { createInProcessRunner } from "../../src/runner/in-process-runner.ts";
import { startDevflow } from "../../src/start-devflow.ts";
import { TEST_JOB_SETTINGS, testWorkspaces } from "./harness.ts";

const databaseUrl = process.argv[2];
if (databaseUrl === undefined) throw new Error("usage: worker-process.ts <databaseUrl>");
const devflow = await startDevflow({
  databaseUrl,
  limits: { maxActiveRuns: 1000, maxActiveRunsPerRepository: 1000 },
  jobs: TEST_JOB_SETTINGS,
  workers: true,
  runner: createInProcessRunner(),
  ...testWorkspaces(),
  log: pino({ level: process.env.DEVFLOW_TEST_LOG ?? "silent" }),
});
process.stdout.write("ready\n");
process.on("SIGTERM", () => {
  devflow.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
