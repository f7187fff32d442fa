import { type AgentAdapter, type AgentOutcome, modelEndpoints } from "./agent-adapter.ts";
import { estimateCostUsd, type UsageMeter } from "./usage-meter.ts";

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

interface ClaudeMessageEvent {
  type?: string;
  total_cost_usd?: number;
  message?: {
    id?: string;
    model?: string;
    usage?: {
      input_tokens?: number;
      output_tokens?: number;
      cache_read_input_tokens?: number;
      cache_creation_input_tokens?: number;
    };
  };
}

/**
 * Claude Code's stream prints each model response as it comes (`assistant` events,
 * with the response's model and usage, a response possibly over several events),
 * and its own total at the end (`result`). Until that total, the cost is estimated
 * at list prices from the responses seen; their output tokens are counted as the
 * stream first reports them, which is low, so the input (the bulk of an agent's
 * spend: the context, sent again each turn) carries the estimate.
 */
function claudeMeter(): UsageMeter {
  const responses = new Map<string, number>();
  let total: number | undefined;
  return {
    read(line) {
      if (!line.startsWith("{")) return;
      let event: ClaudeMessageEvent;
      try {
        event = JSON.parse(line) as ClaudeMessageEvent;
      } catch {
        return;
      }
      if (event.type === "result" && typeof event.total_cost_usd === "number") {
        total = event.total_cost_usd;
        return;
      }
      const usage = event.message?.usage;
      if (event.type !== "assistant" || usage === undefined || event.message?.model === undefined)
        return;
      const cost = estimateCostUsd(event.message.model, {
        input: usage.input_tokens,
        output: usage.output_tokens,
        cacheRead: usage.cache_read_input_tokens,
        cacheWrite: usage.cache_creation_input_tokens,
      });
      if (cost === undefined) return;
      const id = event.message.id ?? `response-${responses.size}`;
      responses.set(id, Math.max(cost, responses.get(id) ?? 0));
    },
    costUsd: () =>
      total ??
      (responses.size === 0 ? undefined : [...responses.values()].reduce((a, b) => a + b, 0)),
  };
}

/**
 * Claude Code in print mode: `claude -p --output-format stream-json --verbose` with
 * the prompt on stdin. It prints one JSON event per line as it works (read by
 * `meter` while it runs) and ends with a result object: `subtype`, `is_error`,
 * `result`, `total_cost_usd` and `usage`.
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
      "stream-json",
      "--verbose",
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
  meter: claudeMeter,
};
