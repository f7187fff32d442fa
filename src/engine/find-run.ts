import { and, desc, eq } from "drizzle-orm";
import type { ApprovalRow, RunRow } from "../db/rows.ts";
import { approvalRequests, runs } from "../db/schema/index.ts";
import type { EngineDeps } from "./types.ts";

/** The latest run of an issue, or of the pull request devflow opened for one. */
export async function findRun(
  deps: EngineDeps,
  by: { repository: string; issueNumber?: number; pullRequestNumber?: number },
): Promise<RunRow | null> {
  const which =
    by.pullRequestNumber !== undefined
      ? eq(runs.pullRequestNumber, by.pullRequestNumber)
      : eq(runs.issueNumber, by.issueNumber ?? -1);
  const [run] = await deps.db
    .select()
    .from(runs)
    .where(and(eq(runs.repository, by.repository), which))
    .orderBy(desc(runs.createdAt))
    .limit(1);
  return run ?? null;
}

/** One run by id, without the rest of its status. */
export async function getRun(deps: EngineDeps, runId: string): Promise<RunRow | null> {
  const [run] = await deps.db.select().from(runs).where(eq(runs.id, runId));
  return run ?? null;
}

/** A run's open gate, if it is waiting at one. */
export async function pendingApproval(
  deps: EngineDeps,
  runId: string,
): Promise<ApprovalRow | null> {
  const [request] = await deps.db
    .select()
    .from(approvalRequests)
    .where(and(eq(approvalRequests.runId, runId), eq(approvalRequests.state, "pending")))
    .orderBy(desc(approvalRequests.createdAt))
    .limit(1);
  return request ?? null;
}

/** An approval request by id (a check run's external id names one). */
export async function findApproval(
  deps: EngineDeps,
  approvalId: string,
): Promise<ApprovalRow | null> {
  const [request] = await deps.db
    .select()
    .from(approvalRequests)
    .where(eq(approvalRequests.id, approvalId));
  return request ?? null;
}
