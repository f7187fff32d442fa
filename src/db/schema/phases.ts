import { sql } from "drizzle-orm";
import {
  boolean,
  check,
  doublePrecision,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { type FailureRecord, runs } from "./runs.ts";

/** A destination the sandbox refused an agent, and why. */
export interface EgressDenialRecord {
  host: string;
  port: number;
  reason: string;
  at: string;
}

export const PHASE_STATES = [
  "pending",
  "running",
  "awaiting_approval",
  "completed",
  "failed",
  "skipped",
] as const;
export type PhaseState = (typeof PHASE_STATES)[number];

/** Review feedback handed to the next attempt of a phase. */
export interface AttemptFeedback {
  source: string;
  actor: string | null;
  body: string;
  comments: { path?: string; line?: number; body: string }[];
}

export const runPhases = pgTable(
  "run_phases",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    runId: uuid("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    phaseKey: text("phase_key").notNull(),
    seq: integer("seq").notNull(),
    title: text("title").notNull(),
    role: text("role").notNull(),
    artifactSchema: text("artifact_schema"),
    gateKey: text("gate_key"),
    instructions: text("instructions").notNull().default(""),
    origin: text("origin").$type<"template" | "plan">().notNull(),
    expandsPlan: boolean("expands_plan").notNull().default(false),
    runState: text("run_state").$type<"planning" | "executing">().notNull(),
    maxAttempts: integer("max_attempts").notNull(),
    state: text("state").$type<PhaseState>().notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    failure: jsonb("failure").$type<FailureRecord>(),
    /** Connections the sandbox refused in the phase's latest attempt: shown with the phase. */
    egressDenied: jsonb("egress_denied").$type<EgressDenialRecord[]>(),
    startedAt: timestamp("started_at", { withTimezone: true }),
    endedAt: timestamp("ended_at", { withTimezone: true }),
  },
  (t) => [
    uniqueIndex("run_phases_run_key").on(t.runId, t.phaseKey),
    uniqueIndex("run_phases_run_seq").on(t.runId, t.seq),
    check(
      "run_phases_state_valid",
      sql`${t.state} in ('pending','running','awaiting_approval','completed','failed','skipped')`,
    ),
  ],
);

export const ATTEMPT_STATES = ["running", "succeeded", "failed", "stopped", "superseded"] as const;
export type AttemptState = (typeof ATTEMPT_STATES)[number];

/**
 * One try of a phase. Results are accepted only for the attempt that is still
 * `running`, which is what makes a replayed or late phase result harmless.
 */
export const phaseAttempts = pgTable(
  "phase_attempts",
  {
    id: uuid("id").primaryKey(),
    runId: uuid("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    phaseId: uuid("phase_id")
      .notNull()
      .references(() => runPhases.id, { onDelete: "cascade" }),
    attempt: integer("attempt").notNull(),
    state: text("state").$type<AttemptState>().notNull().default("running"),
    feedback: jsonb("feedback").$type<AttemptFeedback>(),
    failure: jsonb("failure").$type<FailureRecord>(),
    costUsd: doublePrecision("cost_usd"),
    tokens: jsonb("tokens").$type<{ input?: number; output?: number }>(),
    /** The run-branch commit holding what the attempt produced, when it produced anything. */
    commitSha: text("commit_sha"),
    /** Connections the sandbox refused during the attempt (host, port, why). */
    egressDenied: jsonb("egress_denied").$type<EgressDenialRecord[]>(),
    /**
     * The phase job's heartbeat, from the moment a worker took the attempt to its
     * result (preparation, the agent, commit and push): null until a worker has it.
     */
    heartbeatAt: timestamp("heartbeat_at", { withTimezone: true }),
    startedAt: timestamp("started_at", { withTimezone: true }).notNull().defaultNow(),
    endedAt: timestamp("ended_at", { withTimezone: true }),
  },
  (t) => [
    uniqueIndex("phase_attempts_phase_attempt").on(t.phaseId, t.attempt),
    check(
      "phase_attempts_state_valid",
      sql`${t.state} in ('running','succeeded','failed','stopped','superseded')`,
    ),
  ],
);

/** What an attempt produced: revision 1 is the first answer, 2 the repair. */
export const artifacts = pgTable(
  "artifacts",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    runId: uuid("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    phaseId: uuid("phase_id")
      .notNull()
      .references(() => runPhases.id, { onDelete: "cascade" }),
    attempt: integer("attempt").notNull(),
    revision: integer("revision").notNull(),
    schemaId: text("schema_id").notNull(),
    path: text("path").notNull(),
    content: jsonb("content"),
    valid: boolean("valid").notNull(),
    errors: jsonb("errors").$type<string[]>().notNull().default([]),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("artifacts_phase_attempt_revision").on(t.phaseId, t.attempt, t.revision)],
);
