import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { logFormat } from "../src/log.ts";

const LOG_MODULE = fileURLToPath(new URL("../src/log.ts", import.meta.url));
const run = promisify(execFile);

/** One info line from devflow's logger in a fresh node, its stdout a pipe or (`tty`) a terminal. */
async function logOneLine({ tty, env = {} }: { tty: boolean; env?: Record<string, string> }) {
  const script = `const { createLogger } = await import(${JSON.stringify(LOG_MODULE)});
createLogger({ level: "info", role: "start" }).info({ runId: "run-1" }, "devflow is running");`;
  const node = [process.execPath, "--input-type=module", "-e", script];
  const environment = { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env };
  const { stdout } = tty
    ? // script(1) gives the command a pseudo-terminal, as a person's shell would.
      await run("script", ["-qec", node.map(shellQuote).join(" "), "/dev/null"], {
        env: environment,
      })
    : await run(node[0] as string, node.slice(1), { env: environment });
  return stdout.trim();
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

function isJson(line: string): boolean {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}

describe("log format", () => {
  it("is pretty at a terminal and JSON anywhere else, unless LOG_FORMAT says which", () => {
    expect(logFormat({ isTTY: true, env: {} })).toBe("pretty");
    expect(logFormat({ isTTY: false, env: {} })).toBe("json");
    expect(logFormat({ isTTY: undefined, env: {} })).toBe("json");
    expect(logFormat({ isTTY: true, env: { LOG_FORMAT: "json" } })).toBe("json");
    expect(logFormat({ isTTY: true, env: { LOG_FORMAT: "JSON" } })).toBe("json");
    expect(logFormat({ isTTY: false, env: { LOG_FORMAT: "pretty" } })).toBe("pretty");
  });

  it("writes one JSON object per line when stdout is not a terminal", async () => {
    const line = await logOneLine({ tty: false });
    expect(JSON.parse(line)).toMatchObject({
      level: 30,
      role: "start",
      service: "devflow",
      runId: "run-1",
      msg: "devflow is running",
    });
  });

  it("writes pino-pretty's lines at a terminal, and JSON there with LOG_FORMAT=json", async () => {
    const pretty = await logOneLine({ tty: true });
    expect(pretty).toContain("INFO");
    expect(pretty).toContain("devflow is running");
    expect(pretty).toContain("run-1");
    expect(isJson(pretty)).toBe(false);

    const json = await logOneLine({ tty: true, env: { LOG_FORMAT: "json" } });
    expect(JSON.parse(json)).toMatchObject({ msg: "devflow is running", runId: "run-1" });
  });
});
