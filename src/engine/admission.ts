import { and, asc, count, eq, notInArray, sql } from "drizzle-orm";
import type { Tx } from "../db/client.ts";
import { runs, TERMINAL_RUN_STATES } from "../db/schema/index.ts";
import { advanceLocked } from "./advance-locked.ts";
import { lockRun } from "./run-transition.ts";
import type { EngineDeps } from "./types.ts";

/** Admission decisions are serialised on this advisory lock; nothing else takes it. */
const ADMISSION_LOCK = 7_240_001;

/** Runs that hold none of the active-run slots. */
const NOT_ACTIVE = ["queued", ...TERMINAL_RUN_STATES] as const;

export async function takeAdmissionLock(tx: Tx): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${ADMISSION_LOCK})`);
}

/**
 * Admits queued runs, oldest first, while the global and per-repository caps allow.
 * A run whose repository is full waits without holding back runs of other
 * repositories. Call it with the admission lock held.
 */
export async function admitQueued(tx: Tx, deps: EngineDeps): Promise<string[]> {
  const active = await tx
    .select({ repository: runs.repository, n: count() })
    .from(runs)
    .where(notInArray(runs.state, [...NOT_ACTIVE]))
    .groupBy(runs.repository);
  const perRepository = new Map(active.map((row) => [row.repository, row.n]));
  let total = active.reduce((sum, row) => sum + row.n, 0);
  if (total >= deps.limits.maxActiveRuns) return [];
  const queued = await tx
    .select({ id: runs.id, repository: runs.repository, repositoryCap: runs.repositoryCap })
    .from(runs)
    .where(eq(runs.state, "queued"))
    .orderBy(asc(runs.createdAt), asc(runs.id));
  const admitted: string[] = [];
  for (const candidate of queued) {
    if (total >= deps.limits.maxActiveRuns) break;
    const inRepository = perRepository.get(candidate.repository) ?? 0;
    if (inRepository >= repositoryLimit(deps, candidate.repositoryCap)) continue;
    const t = await lockRun(tx, deps, candidate.id);
    if (t.run.state !== "queued") continue;
    await t.updateRun({ state: "planning", admittedAt: new Date() });
    await t.emit("run.admitted", { waitedMs: Date.now() - t.run.createdAt.getTime() }, "admitted");
    await advanceLocked(t);
    await t.flush();
    perRepository.set(candidate.repository, inRepository + 1);
    total += 1;
    admitted.push(candidate.id);
  }
  return admitted;
}

/** A repository's cap: devflow's, or the repository's own when it is lower. */
function repositoryLimit(deps: EngineDeps, own: number | null): number {
  return Math.min(deps.limits.maxActiveRunsPerRepository, own ?? Number.POSITIVE_INFINITY);
}

/** Why a run that was just created has to wait, for its `run.queued` event and issue comment. */
export async function queueReason(
  tx: Tx,
  deps: EngineDeps,
  repository: string,
  repositoryCap: number | null = null,
): Promise<{ reason: string; position: number }> {
  const [ahead] = await tx.select({ n: count() }).from(runs).where(eq(runs.state, "queued"));
  const [inRepository] = await tx
    .select({ n: count() })
    .from(runs)
    .where(and(eq(runs.repository, repository), notInArray(runs.state, [...NOT_ACTIVE])));
  const reason =
    (inRepository?.n ?? 0) >= repositoryLimit(deps, repositoryCap)
      ? `${repository} already has ${inRepository?.n} active runs (limit ${repositoryLimit(deps, repositoryCap)})`
      : `devflow already has its limit of ${deps.limits.maxActiveRuns} active runs`;
  return { reason, position: ahead?.n ?? 1 };
}
