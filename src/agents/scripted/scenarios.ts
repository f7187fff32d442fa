/**
 * The scripted agent's fixtures: deterministic stand-ins for a coding agent, so a
 * whole run (and every way it can go wrong) can be driven without a model.
 */
export const SCRIPTED_SCENARIOS = [
  /** A valid artifact for the phase's schema (a plan with no extra phases). */
  "ok",
  /** JSON that does not match the schema. */
  "invalid",
  /** Output that is not JSON at all. */
  "garbage",
  /** Never finishes: the wall-clock limit (or a stop) ends it. */
  "timeout",
  /** A valid artifact, after working for SLOW_SCENARIO_MS (for stopping a worker mid-attempt). */
  "slow",
  /** Exits non-zero, as a crashed agent CLI would (recoverable). */
  "crash",
  /** A plan with one phase that has nothing to produce (it is skipped). */
  "skip-only",
  /** A plan whose only phase needs a role the run does not bind. */
  "unbound-role",
  /** A plan with a bound and an unbound role. */
  "mixed-unbound-role",
  /** A plan with a phase keyed `spec`, which the template already has. */
  "colliding-spec",
  /** A plan with a phase whose schema is registered but has no scripted fixture. */
  "unknown-schema",
  /** A plan with a phase whose schema is not registered at all. */
  "unregistered-schema",
  /** A plan with two implementation phases, each producing an artifact. */
  "two-phases",
  /**
   * Works for SPENDY_SCENARIO_MS, adding to SPENDY_WORK.md and reporting $0.01 more
   * every SPENDY_STEP_MS, then writes a valid artifact (for budgets enforced mid-attempt).
   */
  "spendy",
] as const;

/** The `spendy` scenario's pace: a step, and how long it works before it finishes. */
export const SPENDY_STEP_MS = 100;
export const SPENDY_SCENARIO_MS = 30_000;

/** How long the `slow` scenario works before it writes its artifact. */
export const SLOW_SCENARIO_MS = 3000;
/** How often the `slow` scenario prints a line while it works. */
export const SLOW_STEP_MS = 250;

export type ScriptedScenario = (typeof SCRIPTED_SCENARIOS)[number];

/**
 * What a run's scripted config says for one phase: one scenario; a scenario and
 * the one its repair uses; or a list, one entry per attempt (the last repeats).
 */
export type ScenarioSpec =
  | ScriptedScenario
  | { scenario: ScriptedScenario; repairScenario?: ScriptedScenario }
  | ScenarioSpec[];

export function isScriptedScenario(value: unknown): value is ScriptedScenario {
  return typeof value === "string" && (SCRIPTED_SCENARIOS as readonly string[]).includes(value);
}

/** Picks the scenario for one execution of a phase. Unconfigured phases are `ok`. */
export function resolveScenario(
  config: Record<string, unknown> | undefined,
  phaseKey: string,
  attempt: number,
  revision: number,
): ScriptedScenario {
  const pick = (spec: unknown, depth: number): ScriptedScenario => {
    if (isScriptedScenario(spec)) return revision > 1 ? "ok" : spec;
    if (Array.isArray(spec) && depth === 0 && spec.length > 0) {
      return pick(spec[Math.min(attempt, spec.length) - 1], depth + 1);
    }
    if (spec !== null && typeof spec === "object" && "scenario" in spec) {
      const { scenario, repairScenario } = spec as { scenario: unknown; repairScenario?: unknown };
      const chosen = revision > 1 ? (repairScenario ?? "ok") : scenario;
      if (isScriptedScenario(chosen)) return chosen;
    }
    return "ok";
  };
  return pick(config?.[phaseKey], 0);
}

/**
 * Reads the `<!-- devflow-scripted: {...} -->` directive from an issue body.
 * Honoured only when the scripted agent is configured; anything malformed is null.
 */
export function parseScriptedDirective(body: string): Record<string, unknown> | null {
  const match = /<!--\s*devflow-scripted:\s*(\{[\s\S]*?\})\s*-->/.exec(body);
  if (match?.[1] === undefined) return null;
  try {
    const parsed: unknown = JSON.parse(match[1]);
    return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}
