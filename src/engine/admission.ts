import { and, asc, count, eq, notInArray, sql } from "drizzle-orm";
import type { Tx } from "../db/client.ts";
import { runs, TERMINAL_RUN_STATES } from "../db/schema/index.ts";
import { advanceLocked } from "./advance-locked.ts";
import { lockRun } from "./run-transition.ts";
import type { EngineDeps } from "./types.ts";

/** Admission decisions are serialised on this advisory lock; nothing else takes it. */
const ADMISSION_LOCK = 7_240_001;

/**
 * Runs that hold none of the active-run slots: queued, over, and parked — waiting
 * at a gate for a person, or paused. The caps count runs whose agents work or are
 * about to (planning, executing); a few forgotten runs at their gates must not
 * block everyone. A parked run a person moves on goes on at once, even when that
 * takes the count past a cap (a decision is not queued behind newcomers); new
 * runs then wait until the count is under the cap again (docs/engine.md).
 */
const NOT_ACTIVE = ["queued", "paused", "awaiting_approval", ...TERMINAL_RUN_STATES] as const;

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

/** Where a queued run stands: its place in the queue, and the cap that holds it, with the numbers. */
export interface QueuePlace {
  /** 1 for the next run to be admitted. */
  position: number;
  cap: "global" | "repository";
  active: number;
  limit: number;
  reason: string;
}

/**
 * Why a queued run waits: its position among queued runs (oldest first) and which
 * cap holds it — its repository's when that one is full, devflow's otherwise.
 */
export async function queuePlace(
  tx: Tx,
  deps: EngineDeps,
  run: { repository: string; repositoryCap: number | null; createdAt: Date; id: string },
): Promise<QueuePlace> {
  const [ahead] = await tx
    .select({ n: count() })
    .from(runs)
    .where(
      and(
        eq(runs.state, "queued"),
        // The row's own timestamp (a Date would lose its microseconds).
        sql`(${runs.createdAt}, ${runs.id}) <= (select r.created_at, r.id from runs r where r.id = ${run.id})`,
      ),
    );
  const [inRepository] = await tx
    .select({ n: count() })
    .from(runs)
    .where(and(eq(runs.repository, run.repository), notInArray(runs.state, [...NOT_ACTIVE])));
  const [everywhere] = await tx
    .select({ n: count() })
    .from(runs)
    .where(notInArray(runs.state, [...NOT_ACTIVE]));
  const position = Math.max(1, ahead?.n ?? 1);
  const repositoryActive = inRepository?.n ?? 0;
  const ownLimit = repositoryLimit(deps, run.repositoryCap);
  if (repositoryActive >= ownLimit) {
    return {
      position,
      cap: "repository",
      active: repositoryActive,
      limit: ownLimit,
      reason: `${run.repository} has ${repositoryActive} active runs, its limit is ${ownLimit}`,
    };
  }
  const active = everywhere?.n ?? 0;
  return {
    position,
    cap: "global",
    active,
    limit: deps.limits.maxActiveRuns,
    reason: `devflow has ${active} active runs, its limit is ${deps.limits.maxActiveRuns}`,
  };
}
