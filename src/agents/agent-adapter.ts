import { type EgressRule, ruleForUrl } from "../security/egress-policy.ts";
import type { ScriptedScenario } from "./scripted/scenarios.ts";
import type { UsageMeter } from "./usage-meter.ts";

/** An error the agent adapter could name (a fatal one fails the run instead of retrying). */
export interface AgentErrorReport {
  code: string;
  fatal: boolean;
  message: string;
}

/** Paths as the agent sees them: host paths for a process, mount points in a container. */
export interface AgentView {
  /** The checked-out run branch; the agent's working directory. */
  workspace: string;
  /** This execution's own files (prompt, schema), outside the workspace. */
  io: string;
  /** A Node.js >= 22.18 binary, for the scripted agent. */
  node: string;
  /** The scripted agent's executable. */
  scriptedAgent: string;
}

export interface AgentCommandInput {
  view: AgentView;
  /** In the agent's view. */
  promptFile: string;
  schemaFile: string;
  /** Relative to the workspace: where the artifact must be written. */
  outputPath: string;
  schemaId: string;
  /** The scripted agent's fixture for this execution. */
  scenario?: ScriptedScenario;
  /** Settings the operator gave this agent (model, extra arguments, a command line). */
  options: AgentOptions;
  /** The host's values of the adapter's `passEnv` (an endpoint to configure on the command line). */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface AgentOptions {
  model?: string;
  /** The `command` agent's command line, with {prompt}, {output}, {schema} placeholders. */
  command?: string;
  /** Host variables the `command` agent gets, by name (its model key): DEVFLOW_AGENT_COMMAND_ENV. */
  commandEnv?: string[];
}

export interface AgentCommand {
  argv: string[];
  /** Set for the agent on top of the runner's minimal environment. */
  env: Record<string, string>;
  /** A file (in the agent's view) to feed to the agent on stdin. */
  stdinFile?: string;
  /**
   * Host files the command needs besides its program (a script it runs, the
   * scripted agent's code): each one's directory is shown read-only in the sandbox.
   */
  tools?: string[];
  /** Host variables the agent gets for this command, on top of the adapter's `passEnv`. */
  passEnv?: readonly string[];
}

export interface AgentOutcome {
  costUsd?: number;
  tokens?: { input?: number; output?: number };
  error?: AgentErrorReport;
}

/**
 * How devflow drives one coding-agent CLI: the documented non-interactive command
 * line for a prompt, and what to read back from what the tool printed.
 */
export interface AgentAdapter {
  readonly name: string;
  /**
   * Host environment variables the agent gets, by name: its own model key and
   * settings. Nothing else of devflow's environment reaches an agent.
   */
  readonly passEnv: readonly string[];
  /** The program the agent runs as, for `devflow doctor` (none: devflow's own, or configured). */
  readonly executable?: string;
  /** The variables of `passEnv` that hold a model key; one of them must be set (`devflow doctor`). */
  readonly keyEnv?: readonly string[];
  /**
   * Where the agent must connect to work: its model API — the endpoint the
   * operator configured for it (a `named` rule), or the vendor's public one.
   */
  egress(env: NodeJS.ProcessEnv): EgressRule[];
  command(input: AgentCommandInput): AgentCommand;
  interpret(result: { exitCode: number | null; transcript: string }): AgentOutcome;
  /**
   * Reads what the agent has spent while it works, where its CLI reports usage as
   * it goes; devflow stops an attempt that spends the run's budget. Absent: the
   * cost is known only at the end, and the budget is checked between attempts.
   */
  meter?(options: AgentOptions): UsageMeter;
}

/** The `devflow-usage:` convention's meter: each line gives the cost so far. */
export function devflowLinesMeter(): UsageMeter {
  let cost: number | undefined;
  return {
    read(line) {
      if (!line.startsWith("devflow-usage:")) return;
      const reported = readDevflowLines(line).costUsd;
      if (reported !== undefined && Number.isFinite(reported) && reported >= 0) cost = reported;
    },
    costUsd: () => cost,
  };
}

/**
 * The convention of the scripted and `command` agents: a line
 * `devflow-usage: {"costUsd":0.1,"inputTokens":10,"outputTokens":5}` and, for a
 * failure the agent can name, `devflow-error: {"code":"…","fatal":false,"message":"…"}`.
 */
export function readDevflowLines(transcript: string): AgentOutcome {
  const outcome: AgentOutcome = {};
  for (const line of transcript.split("\n")) {
    const usage = /^devflow-usage:\s*(\{.*\})\s*$/.exec(line);
    if (usage?.[1] !== undefined) {
      try {
        const parsed = JSON.parse(usage[1]) as {
          costUsd?: unknown;
          inputTokens?: unknown;
          outputTokens?: unknown;
        };
        if (typeof parsed.costUsd === "number") outcome.costUsd = parsed.costUsd;
        const tokens: { input?: number; output?: number } = {};
        if (typeof parsed.inputTokens === "number") tokens.input = parsed.inputTokens;
        if (typeof parsed.outputTokens === "number") tokens.output = parsed.outputTokens;
        outcome.tokens = tokens;
      } catch {
        // A malformed usage line is not worth failing the attempt over.
      }
    }
    const error = /^devflow-error:\s*(\{.*\})\s*$/.exec(line);
    if (error?.[1] !== undefined) {
      try {
        const parsed = JSON.parse(error[1]) as {
          code?: unknown;
          fatal?: unknown;
          message?: unknown;
        };
        if (typeof parsed.code === "string") {
          outcome.error = {
            code: parsed.code,
            fatal: parsed.fatal === true,
            message: typeof parsed.message === "string" ? parsed.message : parsed.code,
          };
        }
      } catch {
        // Same: the exit status still tells that it failed.
      }
    }
  }
  return outcome;
}

/**
 * The egress an adapter needs: the URL in the first of `urlEnv` that is set (the
 * operator named it, so it may be a local or private endpoint), else the
 * vendor's public API hosts.
 */
export function modelEndpoints(
  env: NodeJS.ProcessEnv,
  urlEnv: readonly string[],
  publicHosts: readonly string[],
): EgressRule[] {
  const configured = urlEnv
    .map((name) => env[name])
    .filter((value): value is string => value !== undefined && value !== "");
  const rules: EgressRule[] = [];
  for (const url of configured) {
    try {
      rules.push(ruleForUrl(url, true));
    } catch {
      // Not a URL: the agent will say so itself.
    }
  }
  if (configured.length > 0) return rules;
  return publicHosts.map((host) => ({ host, port: 443, named: false }));
}
