import type { RunnerRequest } from "./runner.ts";

/**
 * The whole environment an agent gets: a minimal base, the variables its
 * adapter names (its own model key), and the adapter's own settings. Nothing
 * else of devflow's environment — no GitHub token, no app key, no database URL.
 */
export function agentEnvironment(
  request: Pick<
    RunnerRequest,
    "executionId" | "runId" | "phaseKey" | "attempt" | "passEnv" | "command"
  >,
  base: { home: string; path?: string },
): Record<string, string> {
  const env: Record<string, string> = {
    PATH: base.path ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: base.home,
    LANG: "C.UTF-8",
    TERM: "dumb",
    CI: "true",
    GIT_TERMINAL_PROMPT: "0",
    DEVFLOW_RUN_ID: request.runId,
    DEVFLOW_PHASE: request.phaseKey,
    DEVFLOW_ATTEMPT: String(request.attempt),
    DEVFLOW_EXECUTION_ID: request.executionId,
  };
  for (const name of [...request.passEnv, ...(request.command.passEnv ?? [])]) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...request.command.env };
}
