import { type SQL, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import type { RunState } from "../db/schema/index.ts";

/** One line of the runs page. */
export interface RunListItem {
  id: string;
  repository: string;
  issueNumber: number;
  issueTitle: string;
  template: string;
  state: RunState;
  phaseKey: string | null;
  gateKey: string | null;
  createdAt: Date;
  endedAt: Date | null;
  costUsd: number;
}

export interface ListRunsOptions {
  db: Db;
  /** Only runs of these repositories (the ones the person can read). */
  repositories: string[];
  state?: string | undefined;
  repository?: string | undefined;
  limit?: number;
}

/** The repositories that have runs, for the console to ask which of them a person can read. */
export async function repositoriesWithRuns(db: Db): Promise<string[]> {
  const result = await db.execute(sql`select distinct repository from runs order by repository`);
  return (result.rows as { repository: string }[]).map((row) => row.repository);
}

/** Runs, newest first, with their current phase, open gate and what they cost so far. */
export async function listRuns(options: ListRunsOptions): Promise<RunListItem[]> {
  if (options.repositories.length === 0) return [];
  const filters: SQL[] = [
    sql`r.repository in (${sql.join(
      options.repositories.map((repository) => sql`${repository}`),
      sql`, `,
    )})`,
  ];
  if (options.state !== undefined) filters.push(sql`r.state = ${options.state}`);
  if (options.repository !== undefined) filters.push(sql`r.repository = ${options.repository}`);
  const result = await options.db.execute(sql`
    select r.id, r.repository, r.issue_number, r.issue_title, r.template_name, r.template_version,
           r.state, r.created_at, r.ended_at, p.phase_key,
           (select a.gate_key from approval_requests a
             where a.run_id = r.id and a.state = 'pending' order by a.created_at limit 1) as gate_key,
           (select coalesce(sum(pa.cost_usd), 0) from phase_attempts pa where pa.run_id = r.id) as cost
      from runs r left join run_phases p on p.id = r.current_phase_id
     where ${sql.join(filters, sql` and `)}
     order by r.created_at desc, r.id
     limit ${options.limit ?? 200}`);
  return (result.rows as Record<string, unknown>[]).map((row) => ({
    id: String(row.id),
    repository: String(row.repository),
    issueNumber: Number(row.issue_number),
    issueTitle: String(row.issue_title),
    template: `${row.template_name}@${row.template_version}`,
    state: row.state as RunState,
    phaseKey: row.phase_key === null ? null : String(row.phase_key),
    gateKey: row.gate_key === null ? null : String(row.gate_key),
    createdAt: new Date(String(row.created_at)),
    endedAt: row.ended_at === null ? null : new Date(String(row.ended_at)),
    costUsd: Number(row.cost),
  }));
}

/** What changes when any listed run changes: the console's live runs page watches it. */
export async function runsVersion(db: Db, repositories: string[]): Promise<string> {
  if (repositories.length === 0) return "none";
  const result = await db.execute(sql`
    select count(*) as n, coalesce(sum(last_event_seq), 0) as seqs, max(updated_at) as updated
      from runs where repository in (${sql.join(
        repositories.map((repository) => sql`${repository}`),
        sql`, `,
      )})`);
  const row = (result.rows as Record<string, unknown>[])[0] ?? {};
  return `${row.n}:${row.seqs}:${String(row.updated)}`;
}
