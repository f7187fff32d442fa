import type {
  approvalRequests,
  phaseAttempts,
  runEvents,
  runnerExecutions,
  runPhases,
  runReports,
  runs,
} from "./schema/index.ts";

/** One row of each table as drizzle reads it: what the engine, the report and the console pass around. */
export type RunRow = typeof runs.$inferSelect;
export type PhaseRow = typeof runPhases.$inferSelect;
export type AttemptRow = typeof phaseAttempts.$inferSelect;
export type ApprovalRow = typeof approvalRequests.$inferSelect;
export type ExecutionRow = typeof runnerExecutions.$inferSelect;
export type EventRow = typeof runEvents.$inferSelect;
export type ReportRow = typeof runReports.$inferSelect;
