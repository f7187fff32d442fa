import { randomUUID } from "node:crypto";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  createDockerRunner,
  type DockerRunnerOptions,
  transcriptPath,
} from "../../src/runner/backends/docker-runner.ts";
import { createRunner } from "../../src/runner/create-runner.ts";
import {
  RUNNER_EXECUTION_GONE,
  type RunnerHandle,
  type RunnerRequest,
} from "../../src/runner/runner.ts";
import { readSettings } from "../../src/settings.ts";
import { dockerForTests } from "../helpers/docker-for-tests.ts";
import { tempDir } from "../helpers/git-fixtures.ts";

const docker = await dockerForTests();
const options: DockerRunnerOptions = {
  image: docker.image,
  network: "none",
  cpus: 1,
  memoryMb: 256,
  pids: 64,
  ...(docker.socketPath === undefined ? {} : { socketPath: docker.socketPath }),
};
const executions = tempDir("executions");
const started: RunnerHandle[] = [];

/** An execution of `script` (Node, in the container) with its own directories. */
function request(script: string): RunnerRequest {
  const executionId = randomUUID();
  const ioDir = join(executions, executionId);
  mkdirSync(ioDir);
  return {
    executionId,
    runId: randomUUID(),
    phaseKey: "spec",
    attempt: 1,
    revision: 1,
    workspace: tempDir("workspace"),
    ioDir,
    command: { argv: ["node", "-e", script], env: {} },
    passEnv: [],
    readOnly: [],
    egress: { rules: [] },
    timeoutMs: 60_000,
  };
}

const texts = (chunks: { text: string }[]) => chunks.map((chunk) => chunk.text);

describe.skipIf(!docker.available)("the docker runner's transcript", () => {
  const runner = createDockerRunner(options);
  afterAll(async () => {
    for (const handle of started) await runner.dispose(handle).catch(() => undefined);
  });

  it("is a file of devflow's outside every mount of the container, read on from where it stopped", async () => {
    const agent = request(`
      const fs = require("node:fs");
      fs.writeSync(1, "one\\ntwo\\nthr");
      const timer = setInterval(() => {
        if (!fs.existsSync("/devflow/go")) return;
        clearInterval(timer);
        fs.writeSync(1, "ee\\nlast");
      }, 20);
    `);
    const handle = await runner.start(agent);
    started.push(handle);
    expect(handle.transcript).toBe(transcriptPath(agent.ioDir));
    for (let waited = 0; (await runner.capture(handle, 0)).length < 2; waited += 1) {
      if (waited > 500) throw new Error("the agent's first lines never came");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // The unfinished line waits for its end while the agent runs.
    expect(await runner.capture(handle, 0)).toEqual([
      { seq: 1, text: "one\n" },
      { seq: 2, text: "two\n" },
    ]);
    const inspected = await docker.docker.getContainer(String(handle.containerId)).inspect();
    const file = transcriptPath(agent.ioDir);
    for (const mount of inspected.Mounts) {
      expect(relative(mount.Source, file).startsWith("..")).toBe(true);
    }
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(file).uid).toBe(process.getuid?.());

    writeFileSync(join(agent.ioDir, "go"), "");
    expect(await runner.wait(handle)).toMatchObject({ exitCode: 0 });
    expect(await runner.capture(handle, 2)).toEqual([
      { seq: 3, text: "three\n" },
      { seq: 4, text: "last" },
    ]);
    expect(await runner.capture(handle, 4)).toEqual([]);
  });

  it("is read by another process: by the path in the handle, else from the container's log", async () => {
    const agent = request(`require("node:fs").writeSync(1, "a\\nb\\nc\\nunfinished");`);
    const handle = await runner.start(agent);
    started.push(handle);
    await runner.wait(handle);
    const elsewhere = createDockerRunner(options);
    const all = ["a\n", "b\n", "c\n", "unfinished"];
    expect(texts(await elsewhere.capture(handle, 1))).toEqual(all.slice(1));
    // A handle from before devflow kept the file: the container's log, read through a capped copy.
    const older = Object.fromEntries(
      Object.entries(handle).filter(([key]) => key !== "transcript"),
    );
    expect(await elsewhere.capture(older, 0)).toEqual(
      all.map((text, index) => ({ seq: index + 1, text })),
    );
    expect(texts(await elsewhere.capture(older, 2, { maxChunks: 1 }))).toEqual(["c\n"]);

    expect(texts(await elsewhere.capture(handle, 3))).toEqual(["unfinished"]);
    // Disposed of once over, the execution's files are gone with its container.
    await runner.dispose(handle);
    await expect(elsewhere.capture(handle, 0)).rejects.toMatchObject({
      code: RUNNER_EXECUTION_GONE,
    });
  });

  it("refuses to start an execution whose transcript path is already taken", async () => {
    const agent = request(`console.log("never")`);
    writeFileSync(transcriptPath(agent.ioDir), "planted\n");
    await expect(runner.start(agent)).rejects.toMatchObject({ code: "runner_start_failed" });
    const containers = await docker.docker.listContainers({
      all: true,
      filters: { label: [`dev.devflow.execution=${agent.executionId}`] },
    });
    expect(containers).toEqual([]);
  });

  it("keeps what DEVFLOW_TRANSCRIPT_MAX_MB says, and notes the rest", async () => {
    const configured = createRunner(
      readSettings({
        DEVFLOW_RUNNER: "docker",
        DEVFLOW_DOCKER_IMAGE: docker.image,
        DEVFLOW_TRANSCRIPT_MAX_MB: "1",
        ...(docker.socketPath === undefined ? {} : { DOCKER_HOST: `unix://${docker.socketPath}` }),
      }),
    );
    const agent = request(
      `const line = "a".repeat(1023) + "\\n"; for (let i = 0; i < 1536; i += 1) require("node:fs").writeSync(1, line);`,
    );
    const handle = await configured.start(agent);
    started.push(handle);
    await configured.wait(handle);
    const chunks = await configured.capture(handle, 0);
    await configured.dispose(handle);
    expect(chunks).toHaveLength(1025);
    expect(chunks[1023]?.text).toBe(`${"a".repeat(1023)}\n`);
    expect(chunks[1024]?.text).toBe(
      "devflow: the transcript was cut at 1 MiB; 512 KiB more output was not kept\n",
    );
  });
});
