import { type AgentAdapter, type AgentOutcome, modelEndpoints } from "./agent-adapter.ts";
import { estimateCostUsd } from "./usage-meter.ts";

interface CodexEvent {
  type?: string;
  usage?: { input_tokens?: number; cached_input_tokens?: number; output_tokens?: number };
  error?: { message?: string };
  message?: string;
}

/**
 * OpenAI Codex non-interactively: `codex exec --json -` with the prompt on stdin.
 * It prints JSONL events; `turn.completed` carries token usage (no cost),
 * `turn.failed` and `error` carry what went wrong.
 */
export const codexAdapter: AgentAdapter = {
  name: "codex",
  passEnv: ["OPENAI_API_KEY", "CODEX_API_KEY", "OPENAI_BASE_URL"],
  executable: "codex",
  keyEnv: ["OPENAI_API_KEY", "CODEX_API_KEY"],
  egress: (env) => modelEndpoints(env, ["OPENAI_BASE_URL"], ["api.openai.com"]),
  command: ({ promptFile, options, env }) => ({
    argv: [
      "codex",
      "exec",
      "--json",
      "--skip-git-repo-check",
      // devflow's runner is the sandbox; Codex's own cannot nest inside it (it needs
      // namespaces the sandbox refuses), and inside it the agent may write the workspace.
      "--sandbox",
      "danger-full-access",
      // Nothing but the model API: no analytics, update checks or plugin syncs, which
      // the egress proxy would refuse anyway.
      "-c",
      "analytics.enabled=false",
      "-c",
      "check_for_update_on_startup=false",
      "-c",
      "features.plugins=false",
      // Codex reads its endpoint from its config, not from OPENAI_BASE_URL: a provider
      // of devflow's, given on the command line, points it at the one the operator set.
      ...(env?.OPENAI_BASE_URL === undefined || env.OPENAI_BASE_URL === ""
        ? []
        : [
            "-c",
            `model_providers.devflow={name="devflow",base_url=${JSON.stringify(env.OPENAI_BASE_URL)},env_key="${env.CODEX_API_KEY ? "CODEX_API_KEY" : "OPENAI_API_KEY"}",wire_api="responses"}`,
            "-c",
            'model_provider="devflow"',
          ]),
      ...(options.model === undefined ? [] : ["--model", options.model]),
      "-",
    ],
    env: {},
    stdinFile: promptFile,
  }),
  interpret: ({ exitCode, transcript }) => {
    let input = 0;
    let output = 0;
    let sawUsage = false;
    let failure: string | undefined;
    for (const line of transcript.split("\n")) {
      const trimmed = line.trim();
      if (!trimmed.startsWith("{")) continue;
      let event: CodexEvent;
      try {
        event = JSON.parse(trimmed) as CodexEvent;
      } catch {
        continue;
      }
      if (event.type === "turn.completed" && event.usage !== undefined) {
        sawUsage = true;
        input += event.usage.input_tokens ?? 0;
        output += event.usage.output_tokens ?? 0;
      }
      if (event.type === "turn.failed") failure = event.error?.message ?? "the turn failed";
      if (event.type === "error")
        failure = event.message ?? event.error?.message ?? "codex reported an error";
    }
    const outcome: AgentOutcome = sawUsage ? { tokens: { input, output } } : {};
    if (failure !== undefined || exitCode !== 0) {
      outcome.error = {
        code: "codex_failed",
        fatal: false,
        message: failure ?? `codex exited with code ${exitCode}`,
      };
    }
    return outcome;
  },
  // Codex reports usage once per turn (an `exec` is usually one), and no cost: it is
  // priced at list prices when the model is known (DEVFLOW_AGENT_MODEL).
  meter: (options) => {
    let cost: number | undefined;
    return {
      read(line) {
        if (!line.startsWith("{") || options.model === undefined) return;
        try {
          const event = JSON.parse(line) as CodexEvent;
          if (event.type !== "turn.completed" || event.usage === undefined) return;
          const cached = event.usage.cached_input_tokens ?? 0;
          const turn = estimateCostUsd(options.model, {
            input: (event.usage.input_tokens ?? 0) - cached,
            cacheRead: cached,
            output: event.usage.output_tokens,
          });
          if (turn !== undefined) cost = (cost ?? 0) + turn;
        } catch {}
      },
      costUsd: () => cost,
    };
  },
};
