import { asc, eq, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import type { AttemptRow, EventRow, ExecutionRow } from "../db/rows.ts";
import { artifacts, phaseAttempts, runEvents, runnerExecutions } from "../db/schema/index.ts";
import type { Engine } from "../engine/create-engine.ts";
import type { RunStatus } from "../engine/get-run-status.ts";

export type ArtifactRow = typeof artifacts.$inferSelect;

/** Everything the run page shows. */
export interface RunView extends RunStatus {
  attempts: AttemptRow[];
  executions: ExecutionRow[];
  /** Every artifact revision of the run, oldest first (the status's map holds each phase's latest valid one). */
  artifactRows: ArtifactRow[];
  events: EventRow[];
  /** Who decided each gate, and how (the decision's action and body). */
  decisions: Map<string, { action: string; actor: string | null; body: string | null; at: Date }>;
}

/** A run as the console shows it; null when there is no such run. */
export async function loadRun(db: Db, engine: Engine, runId: string): Promise<RunView | null> {
  if (!/^[0-9a-f-]{36}$/i.test(runId)) return null;
  const run = await engine.getRun(runId);
  if (run === null) return null;
  const [status, attempts, executions, artifactRows, events, decisionRows] = await Promise.all([
    engine.getRunStatus(runId),
    db
      .select()
      .from(phaseAttempts)
      .where(eq(phaseAttempts.runId, runId))
      .orderBy(asc(phaseAttempts.startedAt)),
    db
      .select()
      .from(runnerExecutions)
      .where(eq(runnerExecutions.runId, runId))
      .orderBy(asc(runnerExecutions.startedAt)),
    db.select().from(artifacts).where(eq(artifacts.runId, runId)).orderBy(asc(artifacts.createdAt)),
    db
      .select()
      .from(runEvents)
      .where(eq(runEvents.runId, runId))
      .orderBy(asc(runEvents.seq))
      .limit(1000),
    db.execute(sql`
      select d.approval_request_id, d.action, d.actor, d.body, d.created_at
        from approval_decisions d join approval_requests a on a.id = d.approval_request_id
       where a.run_id = ${runId}`),
  ]);
  const decisions = new Map(
    (decisionRows.rows as Record<string, unknown>[]).map((row) => [
      String(row.approval_request_id),
      {
        action: String(row.action),
        actor: row.actor === null ? null : String(row.actor),
        body: row.body === null ? null : String(row.body),
        at: new Date(String(row.created_at)),
      },
    ]),
  );
  return { ...status, attempts, executions, artifactRows, events, decisions };
}

/** Where a run's agent sessions stand: the run page's live stream sends what changed. */
export async function sessionProgress(
  db: Db,
  runId: string,
): Promise<{
  seq: number;
  state: string;
  executions: { id: string; length: number; captured: number; running: boolean }[];
}> {
  const result = await db.execute(sql`
    select r.last_event_seq, r.state,
           coalesce(json_agg(json_build_object('id', e.id, 'length', length(e.transcript),
             'captured', e.last_capture_seq, 'running', e.state = 'running')) filter (where e.id is not null), '[]') as executions
      from runs r left join runner_executions e on e.run_id = r.id
     where r.id = ${runId} group by r.id`);
  const row = (result.rows as Record<string, unknown>[])[0];
  if (row === undefined) return { seq: 0, state: "unknown", executions: [] };
  return {
    seq: Number(row.last_event_seq),
    state: String(row.state),
    executions: row.executions as {
      id: string;
      length: number;
      captured: number;
      running: boolean;
    }[],
  };
}

/** `length` characters of an execution's transcript from `from` (0-based). */
export async function transcriptSlice(db: Db, executionId: string, from: number): Promise<string> {
  const result = await db.execute(
    sql`select substr(transcript, ${from + 1}) as text from runner_executions where id = ${executionId}`,
  );
  return String((result.rows as { text: string | null }[])[0]?.text ?? "");
}
