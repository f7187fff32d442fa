import { type AgentAdapter, type AgentOutcome, modelEndpoints } from "./agent-adapter.ts";

function count(text: string): number {
  const value = Number.parseFloat(text);
  return Math.round(text.endsWith("k") ? value * 1000 : value);
}

/**
 * Aider with one message and no questions: `aider --message-file FILE
 * --yes-always --no-auto-commits` (devflow commits, with its trailers). Aider
 * reports each exchange as `Tokens: 2.1k sent, 310 received. Cost: $0.01
 * message, $0.03 session.`
 */
export const aiderAdapter: AgentAdapter = {
  name: "aider",
  passEnv: [
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "GEMINI_API_KEY",
    "OPENROUTER_API_KEY",
    "OPENAI_API_BASE",
    "ANTHROPIC_BASE_URL",
  ],
  executable: "aider",
  keyEnv: ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY"],
  egress: (env) =>
    modelEndpoints(
      env,
      ["OPENAI_API_BASE", "ANTHROPIC_BASE_URL"],
      ["api.openai.com", "api.anthropic.com", "generativelanguage.googleapis.com", "openrouter.ai"],
    ),
  command: ({ promptFile, options }) => ({
    argv: [
      "aider",
      "--message-file",
      promptFile,
      "--yes-always",
      "--no-auto-commits",
      "--no-pretty",
      "--no-stream",
      ...(options.model === undefined ? [] : ["--model", options.model]),
    ],
    env: {},
  }),
  interpret: ({ exitCode, transcript }) => {
    const outcome: AgentOutcome = {};
    const pattern =
      /Tokens:\s*([\d.]+k?)\s*sent,\s*([\d.]+k?)\s*received\.(?:\s*Cost:\s*\$([\d.]+)\s*message,\s*\$([\d.]+)\s*session)?/g;
    let input = 0;
    let output = 0;
    let session: number | undefined;
    for (const match of transcript.matchAll(pattern)) {
      input += count(match[1] ?? "0");
      output += count(match[2] ?? "0");
      if (match[4] !== undefined) session = Number.parseFloat(match[4]);
    }
    if (input > 0 || output > 0) outcome.tokens = { input, output };
    if (session !== undefined) outcome.costUsd = session;
    if (exitCode !== 0) {
      outcome.error = {
        code: "aider_failed",
        fatal: false,
        message: `aider exited with code ${exitCode}`,
      };
    }
    return outcome;
  },
  // Aider prints the session's cost after every message.
  meter: () => {
    let cost: number | undefined;
    return {
      read(line) {
        const session = /Cost:\s*\$[\d.]+\s*message,\s*\$([\d.]+)\s*session/.exec(line)?.[1];
        if (session !== undefined) cost = Number.parseFloat(session);
      },
      costUsd: () => cost,
    };
  },
};
