import { type AgentAdapter, type AgentOutcome, modelEndpoints } from "./agent-adapter.ts";

interface ClaudeResult {
  type?: string;
  subtype?: string;
  is_error?: boolean;
  result?: string;
  total_cost_usd?: number;
  usage?: { input_tokens?: number; output_tokens?: number };
}

/** The last `{"type":"result",…}` object Claude Code printed with `--output-format json`. */
function lastResult(transcript: string): ClaudeResult | undefined {
  const lines = transcript.split("\n").reverse();
  for (const line of lines) {
    const trimmed = line.trim();
    if (!trimmed.startsWith("{")) continue;
    try {
      const parsed = JSON.parse(trimmed) as ClaudeResult;
      if (parsed.type === "result") return parsed;
    } catch {}
  }
  return undefined;
}

/**
 * Claude Code in print mode: `claude -p --output-format json` with the prompt on
 * stdin. It prints one result object: `subtype`, `is_error`, `result`,
 * `total_cost_usd` and `usage`.
 */
export const claudeCodeAdapter: AgentAdapter = {
  name: "claude-code",
  passEnv: ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_BASE_URL"],
  executable: "claude",
  keyEnv: ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"],
  egress: (env) => modelEndpoints(env, ["ANTHROPIC_BASE_URL"], ["api.anthropic.com"]),
  command: ({ promptFile, options }) => ({
    argv: [
      "claude",
      "-p",
      "--output-format",
      "json",
      // The runner is the sandbox: the agent may edit the workspace without asking.
      "--permission-mode",
      "bypassPermissions",
      ...(options.model === undefined ? [] : ["--model", options.model]),
    ],
    // Nothing but the model API: no telemetry, error reports or update checks, which
    // the egress proxy would refuse anyway.
    env: {
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      DISABLE_TELEMETRY: "1",
      DISABLE_ERROR_REPORTING: "1",
      DISABLE_AUTOUPDATER: "1",
    },
    stdinFile: promptFile,
  }),
  interpret: ({ exitCode, transcript }) => {
    const result = lastResult(transcript);
    const outcome: AgentOutcome = {};
    if (result?.total_cost_usd !== undefined) outcome.costUsd = result.total_cost_usd;
    if (result?.usage !== undefined) {
      const tokens: { input?: number; output?: number } = {};
      if (result.usage.input_tokens !== undefined) tokens.input = result.usage.input_tokens;
      if (result.usage.output_tokens !== undefined) tokens.output = result.usage.output_tokens;
      outcome.tokens = tokens;
    }
    if (result?.is_error === true || (result === undefined && exitCode !== 0)) {
      outcome.error = {
        code: `claude_${result?.subtype ?? "failed"}`,
        fatal: false,
        message: result?.result ?? `claude exited with code ${exitCode} without a result`,
      };
    }
    return outcome;
  },
};
