import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_ADAPTERS } from "../../src/agents/agent-adapters.ts";
import { phaseAttempts } from "../../src/db/schema/index.ts";
import { createProcessRunner } from "../../src/runner/backends/process-runner.ts";
import { tempDir } from "../helpers/git-fixtures.ts";
import { startHarness } from "../helpers/harness.ts";

/**
 * Each adapter against a stand-in executable that checks the flags the real CLI
 * documents for non-interactive use (exit 2 on anything else) and prints that
 * CLI's output format: a changed flag or a misread output fails here.
 */
const bin = fileURLToPath(new URL("../fixtures/agents/bin", import.meta.url));
const originalPath = process.env.PATH;
beforeAll(() => {
  process.env.PATH = `${bin}:${originalPath}`;
});
afterAll(() => {
  process.env.PATH = originalPath;
});

const expected = {
  "claude-code": { costUsd: 0.42, tokens: { input: 1200, output: 340 } },
  codex: { costUsd: null, tokens: { input: 2100, output: 200 } },
  aider: { costUsd: 0.03, tokens: { input: 5500, output: 430 } },
} as const;

describe.each(Object.entries(expected))("the %s adapter", (name, usage) => {
  it("runs a phase through the process runner and records what the tool reported", async () => {
    const h = await startHarness({
      runner: createProcessRunner({ killGraceMs: 500 }),
      jobs: { defaultAgent: name },
    });
    try {
      const { runId } = await h.start();
      await h.waitForGate(runId, "spec_approved", 30_000);
      const [attempt] = await h.db
        .select()
        .from(phaseAttempts)
        .where(eq(phaseAttempts.runId, runId));
      expect(attempt).toMatchObject({
        state: "succeeded",
        costUsd: usage.costUsd,
        tokens: usage.tokens,
      });
    } finally {
      await h.stop();
    }
  });
});

/** Runs a stand-in as the adapter would, failing on purpose, and reads its output back. */
function failingRun(name: string, tool: string) {
  const adapter = AGENT_ADAPTERS.get(name);
  if (adapter === undefined) throw new Error(`no adapter ${name}`);
  const io = tempDir("contract");
  writeFileSync(
    join(io, "prompt.md"),
    "Write one JSON document valid against dev/spec@1 to `out/spec.json`:\n",
  );
  const view = { workspace: io, io, node: process.execPath, scriptedAgent: "unused" };
  const command = adapter.command({
    view,
    promptFile: join(io, "prompt.md"),
    schemaFile: join(io, "schema.json"),
    outputPath: "out/spec.json",
    schemaId: "dev/spec@1",
    options: {},
  });
  const [file, ...args] = command.argv;
  const result = spawnSync(join(bin, file ?? ""), args, {
    cwd: io,
    env: { ...process.env, STAND_IN_FAIL: tool },
    input:
      command.stdinFile === undefined
        ? ""
        : `Write one JSON document valid against dev/spec@1 to \`out/spec.json\`:\n`,
    encoding: "utf8",
  });
  expect(result.stderr).not.toMatch(/unexpected argument/);
  return adapter.interpret({
    exitCode: result.status,
    transcript: `${result.stdout}${result.stderr}`,
  });
}

describe("what the adapters read from a failing tool", () => {
  it("claude-code: an error result names its subtype and keeps the cost", () => {
    expect(failingRun("claude-code", "claude")).toEqual({
      costUsd: 0.75,
      tokens: { input: 900, output: 90 },
      error: { code: "claude_error_max_turns", fatal: false, message: "Reached max turns" },
    });
  });

  it("codex: a failed turn is the error", () => {
    expect(failingRun("codex", "codex")).toEqual({
      error: { code: "codex_failed", fatal: false, message: "stream disconnected" },
    });
  });

  it("aider: a non-zero exit is the error", () => {
    expect(failingRun("aider", "aider")).toMatchObject({
      error: { code: "aider_failed", fatal: false },
    });
  });

  it("command: the command line is required, and says which setting to set", () => {
    const adapter = AGENT_ADAPTERS.get("command");
    const view = { workspace: "/w", io: "/io", node: "node", scriptedAgent: "x" };
    expect(() =>
      adapter?.command({
        view,
        promptFile: "/io/p",
        schemaFile: "/io/s",
        outputPath: "o.json",
        schemaId: "dev/spec@1",
        options: {},
      }),
    ).toThrow(/DEVFLOW_AGENT_COMMAND/);
    expect(
      adapter?.command({
        view,
        promptFile: "/io/p",
        schemaFile: "/io/s",
        outputPath: "o.json",
        schemaId: "dev/spec@1",
        options: { command: "my-agent --in {prompt} --out {output} --schema {schema}" },
      }).argv,
    ).toEqual(["my-agent", "--in", "/io/p", "--out", "o.json", "--schema", "/io/s"]);
  });
});

describe("what the adapters read while the tool works", () => {
  const feed = (name: string, lines: unknown[], options = {}) => {
    const meter = AGENT_ADAPTERS.get(name)?.meter?.(options);
    const seen: (number | undefined)[] = [];
    for (const line of lines) {
      meter?.read(typeof line === "string" ? line : JSON.stringify(line));
      seen.push(meter?.costUsd());
    }
    return seen;
  };

  it("claude-code: each response is priced as it streams (once, however many events carry it), and the CLI's total wins at the end", () => {
    const response = (id: string, input: number) => ({
      type: "assistant",
      message: { id, model: "claude-sonnet-4-5", usage: { input_tokens: input, output_tokens: 1 } },
    });
    const seen = feed("claude-code", [
      { type: "system", subtype: "init", model: "claude-sonnet-4-5" },
      response("msg_1", 100_000),
      response("msg_1", 100_000),
      { type: "user", message: { content: [] } },
      response("msg_2", 200_000),
      "not json",
      { type: "result", total_cost_usd: 0.95 },
    ]);
    // $3 per million input tokens, $15 per million output tokens.
    expect(seen[0]).toBeUndefined();
    expect(seen[1]).toBeCloseTo(0.300015, 6);
    expect(seen[2]).toBeCloseTo(0.300015, 6);
    expect(seen[4]).toBeCloseTo(0.90003, 6);
    expect(seen[6]).toBe(0.95);
  });

  it("codex: a turn's tokens are priced when the model is known, and not guessed when it is not", () => {
    const turn = {
      type: "turn.completed",
      usage: { input_tokens: 1_000_000, cached_input_tokens: 400_000, output_tokens: 100_000 },
    };
    expect(feed("codex", [turn], { model: "gpt-5-codex" })[0]).toBeCloseTo(0.75 + 0.05 + 1, 6);
    expect(feed("codex", [turn])[0]).toBeUndefined();
  });

  it("aider and the devflow-usage convention: the latest figure is the spend so far", () => {
    expect(
      feed("aider", [
        "Tokens: 2.1k sent, 100 received. Cost: $0.01 message, $0.01 session.",
        "Tokens: 3.4k sent, 330 received. Cost: $0.02 message, $0.03 session.",
      ]),
    ).toEqual([0.01, 0.03]);
    expect(
      feed("command", ['devflow-usage: {"costUsd":0.2}', 'devflow-usage: {"costUsd":-1}']),
    ).toEqual([0.2, 0.2]);
  });
});
