import { and, asc, eq, inArray, sql } from "drizzle-orm";
import type { AttemptRow, PhaseRow, RunRow } from "../db/rows.ts";
import { artifacts, phaseAttempts, runBindings, runPhases, runs } from "../db/schema/index.ts";
import type { EngineDeps } from "./types.ts";

export interface AttemptContext {
  run: RunRow;
  phase: PhaseRow;
  attempt: AttemptRow;
  persona: string;
  agent: string | null;
  earlierArtifacts: { phaseKey: string; schemaId: string; content: unknown }[];
  /** What the run may still spend on agents, in dollars; null: no budget. */
  budgetLeftUsd: number | null;
}

/**
 * What the phase job needs to run an attempt, or null when the attempt is no
 * longer running (the job is stale: replayed, stopped or superseded).
 */
export async function getAttemptContext(
  deps: EngineDeps,
  attemptId: string,
): Promise<AttemptContext | null> {
  const [attempt] = await deps.db
    .select()
    .from(phaseAttempts)
    .where(eq(phaseAttempts.id, attemptId));
  if (attempt === undefined || attempt.state !== "running") return null;
  const [[run], [phase]] = await Promise.all([
    deps.db.select().from(runs).where(eq(runs.id, attempt.runId)),
    deps.db.select().from(runPhases).where(eq(runPhases.id, attempt.phaseId)),
  ]);
  if (run === undefined || phase === undefined) return null;
  const [binding] = await deps.db
    .select()
    .from(runBindings)
    .where(and(eq(runBindings.runId, run.id), eq(runBindings.role, phase.role)));
  const earlierPhases = await deps.db
    .select()
    .from(runPhases)
    .where(and(eq(runPhases.runId, run.id), inArray(runPhases.state, ["completed"])))
    .orderBy(asc(runPhases.seq));
  const earlier = earlierPhases.filter((candidate) => candidate.seq < phase.seq);
  const valid =
    earlier.length === 0
      ? []
      : await deps.db
          .select()
          .from(artifacts)
          .where(
            and(
              inArray(
                artifacts.phaseId,
                earlier.map((candidate) => candidate.id),
              ),
              eq(artifacts.valid, true),
            ),
          )
          .orderBy(asc(artifacts.attempt), asc(artifacts.revision));
  let budgetLeftUsd: number | null = null;
  if (run.budgetUsd !== null) {
    const [spent] = await deps.db
      .select({ usd: sql<number>`coalesce(sum(${phaseAttempts.costUsd}), 0)::float8` })
      .from(phaseAttempts)
      .where(eq(phaseAttempts.runId, run.id));
    budgetLeftUsd = Math.max(0, run.budgetUsd * run.budgetGrants - (spent?.usd ?? 0));
  }
  const latest = new Map<string, (typeof valid)[number]>();
  for (const artifact of valid) latest.set(artifact.phaseId, artifact);
  // What the run started with; a run from before bindings kept the text reads today's.
  const persona =
    binding?.personaBody ??
    (binding === undefined ? undefined : deps.registry.personas.get(binding.persona)?.body);
  return {
    run,
    phase,
    attempt,
    persona: persona ?? "",
    agent: binding?.agent ?? run.agentConfig.agent ?? null,
    budgetLeftUsd,
    earlierArtifacts: earlier.flatMap((candidate) => {
      const artifact = latest.get(candidate.id);
      return artifact === undefined
        ? []
        : [
            {
              phaseKey: candidate.phaseKey,
              schemaId: artifact.schemaId,
              content: artifact.content,
            },
          ];
    }),
  };
}
