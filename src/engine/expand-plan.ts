import { and, desc, eq } from "drizzle-orm";
import type { PhaseRow } from "../db/rows.ts";
import { artifacts, runBindings, runPhases } from "../db/schema/index.ts";
import type { PhasePlan } from "../registry/types.ts";
import type { Transition } from "./run-transition.ts";

/**
 * Inserts the phases of the approved plan after `planPhase`, or returns why it
 * cannot: a role the run does not bind, a key that collides with a template key
 * (or repeats), a schema the registry does not know. All problems are checked
 * before anything is inserted, so a bad plan leaves no half-inserted phases.
 */
export async function expandPlan(t: Transition, planPhase: PhaseRow): Promise<string[]> {
  const [artifact] = await t.tx
    .select({ content: artifacts.content })
    .from(artifacts)
    .where(and(eq(artifacts.phaseId, planPhase.id), eq(artifacts.valid, true)))
    .orderBy(desc(artifacts.attempt), desc(artifacts.revision))
    .limit(1);
  if (artifact === undefined) return [`phase ${planPhase.phaseKey} has no valid plan artifact`];
  const plan = artifact.content as PhasePlan;
  const bindings = await t.tx
    .select({ role: runBindings.role })
    .from(runBindings)
    .where(eq(runBindings.runId, t.run.id));
  const existing = await t.tx
    .select({ key: runPhases.phaseKey })
    .from(runPhases)
    .where(eq(runPhases.runId, t.run.id));
  const bound = new Set(bindings.map((binding) => binding.role));
  const taken = new Set(existing.map((phase) => phase.key));
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const planned of plan.phases) {
    if (!bound.has(planned.role)) {
      problems.push(`planned phase ${planned.key}: role ${planned.role} is not bound in this run`);
    }
    if (taken.has(planned.key)) {
      problems.push(`planned phase ${planned.key}: key collides with a template phase`);
    } else if (seen.has(planned.key)) {
      problems.push(`planned phase ${planned.key}: key appears twice in the plan`);
    }
    seen.add(planned.key);
    if (planned.artifactSchema !== null && !t.deps.registry.schemas.has(planned.artifactSchema)) {
      problems.push(
        `planned phase ${planned.key}: schema ${planned.artifactSchema} is not registered`,
      );
    }
  }
  if (problems.length > 0) return problems;
  if (plan.phases.length > 0) {
    await t.tx.insert(runPhases).values(
      plan.phases.map((planned, index) => ({
        runId: t.run.id,
        phaseKey: planned.key,
        seq: planPhase.seq + index + 1,
        title: planned.title,
        role: planned.role,
        artifactSchema: planned.artifactSchema,
        gateKey: null,
        instructions: planned.instructions,
        origin: "plan" as const,
        runState: "executing" as const,
        maxAttempts: planPhase.maxAttempts,
      })),
    );
  }
  await t.emit(
    "plan.expanded",
    { phaseKey: planPhase.phaseKey, planned: plan.phases.map((planned) => planned.key) },
    planPhase.id,
  );
  return [];
}
