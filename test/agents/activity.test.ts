import { describe, expect, it } from "vitest";
import { describeActivity } from "../../src/agents/activity.ts";

describe("what an agent is doing now, from the end of its transcript", () => {
  it("reads claude-code's tool calls and text, codex's commands and edits, and plain lines; skips usage lines", () => {
    const tail = [
      "a line cut by the tail",
      JSON.stringify({
        type: "assistant",
        message: {
          content: [
            { type: "text", text: "Let me run the tests." },
            { type: "tool_use", name: "Bash", input: { command: "npm test" } },
          ],
        },
      }),
      JSON.stringify({
        type: "assistant",
        message: {
          content: [{ type: "tool_use", name: "Edit", input: { file_path: "src/a.ts" } }],
        },
      }),
      JSON.stringify({
        type: "item.started",
        item: { type: "command_execution", command: "cargo test" },
      }),
      JSON.stringify({
        type: "item.completed",
        item: { type: "file_change", changes: [{ path: "b.rs" }] },
      }),
      'devflow-usage: {"costUsd":0.5}',
      "\u001b[32mCompiling\u001b[0m the crate",
      "",
    ].join("\n");
    expect(describeActivity(tail, 10)).toEqual([
      "Let me run the tests. · Bash: npm test",
      "Edit: src/a.ts",
      "$ cargo test",
      "edit b.rs",
      "Compiling the crate",
    ]);
  });

  it("keeps the last few, each one line and short", () => {
    const tail = `cut\n${Array.from({ length: 9 }, (_, i) => `step ${i} ${"x".repeat(300)}`).join("\n")}\n`;
    const seen = describeActivity(tail);
    expect(seen).toHaveLength(5);
    expect(seen[0]).toMatch(/^step 4 x+…$/);
    expect(seen.every((line) => line.length <= 160)).toBe(true);
  });
});
