import { sql } from "drizzle-orm";
import {
  bigint,
  check,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { phaseAttempts, runPhases } from "./phases.ts";
import { runs } from "./runs.ts";

export const EXECUTION_STATES = [
  "running",
  "succeeded",
  "failed",
  "stopped",
  "failed_needs_human",
] as const;
export type ExecutionState = (typeof EXECUTION_STATES)[number];

/** How to find an execution again from any process: a pid, a container id, a Job name. */
export type RunnerHandle = Record<string, string | number>;

/**
 * One agent execution in a runner (a process, a container). The handle is
 * persisted so cleanup works after a restart; `heartbeat_at` is how the sweep
 * tells a live execution from one whose worker died.
 */
export const runnerExecutions = pgTable(
  "runner_executions",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    runId: uuid("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    phaseId: uuid("phase_id")
      .notNull()
      .references(() => runPhases.id, { onDelete: "cascade" }),
    attemptId: uuid("attempt_id")
      .notNull()
      .references(() => phaseAttempts.id, { onDelete: "cascade" }),
    revision: integer("revision").notNull(),
    role: text("role").notNull(),
    backend: text("backend").notNull(),
    /** The process that ran it (host:pid), for operators and for the scale-out picture. */
    worker: text("worker"),
    handle: jsonb("handle").$type<RunnerHandle>(),
    state: text("state").$type<ExecutionState>().notNull().default("running"),
    lastCaptureSeq: bigint("last_capture_seq", { mode: "number" }).notNull().default(0),
    /**
     * The agent's transcript, redacted: appended line by line while it runs (the
     * console streams it from here) and completed when the execution ends.
     */
    transcript: text("transcript").notNull().default(""),
    /** The prompt the agent was given, as written to its prompt file. */
    prompt: text("prompt"),
    exit: jsonb("exit").$type<Record<string, unknown>>(),
    heartbeatAt: timestamp("heartbeat_at", { withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp("started_at", { withTimezone: true }).notNull().defaultNow(),
    endedAt: timestamp("ended_at", { withTimezone: true }),
    disposedAt: timestamp("disposed_at", { withTimezone: true }),
  },
  (t) => [
    uniqueIndex("runner_executions_attempt_revision").on(t.attemptId, t.revision),
    check(
      "runner_executions_state_valid",
      sql`${t.state} in ('running','succeeded','failed','stopped','failed_needs_human')`,
    ),
  ],
);
