import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

/** The `devflow` executable, as npm links it (`bin` in package.json). */
export const DEVFLOW_BIN = fileURLToPath(new URL("../../bin/devflow.js", import.meta.url));

/** Only what the CLI needs from this process's environment, plus `env`; nothing of the test's own settings. */
export function cliEnvironment(env: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/root",
    LOG_LEVEL: process.env.DEVFLOW_TEST_LOG ?? "info",
    ...(process.env.DOCKER_HOST === undefined ? {} : { DOCKER_HOST: process.env.DOCKER_HOST }),
    ...env,
  };
}

export interface DevflowProcess {
  child: ChildProcess;
  /** Everything it printed so far (JSON log lines). */
  output(): string;
  /** Resolves to the exit code (or the signal that ended it). */
  exited: Promise<number | NodeJS.Signals>;
  /** Kills it with SIGKILL if it still runs (test cleanup). */
  kill(): Promise<void>;
}

/** Starts `devflow <args>` as a long-running process (start, worker). */
export function spawnDevflow(args: string[], env: Record<string, string>): DevflowProcess {
  const child = spawn(process.execPath, [DEVFLOW_BIN, ...args], {
    env: cliEnvironment(env),
    cwd: tmpdir(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  const exited = once(child, "exit").then(
    ([code, signal]) => (code ?? signal) as number | NodeJS.Signals,
  );
  return {
    child,
    output: () => text,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
}

/** Runs one short `devflow` command to its end. */
export async function runDevflow(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [DEVFLOW_BIN, ...args], {
    env: cliEnvironment(env),
    cwd: tmpdir(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stdout, stderr };
}

/** Waits until GET /healthz on `port` answers 200, or `devflow` exits first. */
export async function waitForHealthy(
  port: number,
  devflow: DevflowProcess,
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void devflow.exited.then(() => {
    exited = true;
  });
  for (;;) {
    if (exited) throw new Error(`devflow exited before it was healthy:\n${devflow.output()}`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (response.status === 200) return;
    } catch {}
    if (Date.now() > deadline) {
      throw new Error(`devflow was not healthy after ${timeoutMs} ms:\n${devflow.output()}`);
    }
    await sleep(100);
  }
}
