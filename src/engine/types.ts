import type { PgBoss } from "pg-boss";
import type { Logger } from "pino";
import type { Db } from "../db/client.ts";
import type {
  approvalRequests,
  phaseAttempts,
  runEvents,
  runnerExecutions,
  runPhases,
  runReports,
  runs,
} from "../db/schema/index.ts";
import type { Registry } from "../registry/types.ts";

export type RunRow = typeof runs.$inferSelect;
export type PhaseRow = typeof runPhases.$inferSelect;
export type AttemptRow = typeof phaseAttempts.$inferSelect;
export type ApprovalRow = typeof approvalRequests.$inferSelect;
export type ExecutionRow = typeof runnerExecutions.$inferSelect;
export type EventRow = typeof runEvents.$inferSelect;
export type ReportRow = typeof runReports.$inferSelect;

export interface EngineLimits {
  maxActiveRuns: number;
  maxActiveRunsPerRepository: number;
  /** The budget a run gets when its start names none; undefined: no limit. */
  defaultBudgetUsd?: number | undefined;
}

/** What every engine command needs; passed in, never imported as a singleton. */
export interface EngineDeps {
  db: Db;
  boss: PgBoss;
  registry: Registry;
  limits: EngineLimits;
  log: Logger;
}
