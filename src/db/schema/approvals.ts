import { sql } from "drizzle-orm";
import { check, integer, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { runPhases } from "./phases.ts";
import { runs } from "./runs.ts";

export const APPROVAL_STATES = [
  "pending",
  "approved",
  "rejected",
  "changes_requested",
  "aborted",
] as const;
export type ApprovalState = (typeof APPROVAL_STATES)[number];
export const APPROVAL_ACTIONS = ["approve", "request_changes", "reject"] as const;
export type ApprovalAction = (typeof APPROVAL_ACTIONS)[number];

/**
 * A gate waiting for a human. `kind = 'human_required'` gates are raised by the
 * engine itself (an artifact still invalid after repair, attempts exhausted) and
 * stay resolvable while the run is paused.
 */
export const approvalRequests = pgTable(
  "approval_requests",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    runId: uuid("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    phaseId: uuid("phase_id")
      .notNull()
      .references(() => runPhases.id, { onDelete: "cascade" }),
    gateKey: text("gate_key").notNull(),
    kind: text("kind").$type<"gate" | "human_required">().notNull(),
    attempt: integer("attempt").notNull(),
    state: text("state").$type<ApprovalState>().notNull().default("pending"),
    reason: text("reason"),
    /** The run branch's commit the gate was raised on: a review of an older one cannot decide it. */
    commitSha: text("commit_sha"),
    resolvedBy: text("resolved_by"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    resolvedAt: timestamp("resolved_at", { withTimezone: true }),
  },
  (t) => [
    uniqueIndex("approval_requests_one_pending_per_gate")
      .on(t.runId, t.gateKey)
      .where(sql`${t.state} = 'pending'`),
    check(
      "approval_requests_state_valid",
      sql`${t.state} in ('pending','approved','rejected','changes_requested','aborted')`,
    ),
  ],
);

/**
 * The one decision that resolved a request. `idempotency_key` is
 * `<approvalId>:<action>:<clientToken>`; the unique request id makes a second,
 * different decision impossible even under concurrency.
 */
export const approvalDecisions = pgTable(
  "approval_decisions",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    approvalRequestId: uuid("approval_request_id")
      .notNull()
      .references(() => approvalRequests.id, { onDelete: "cascade" }),
    action: text("action").$type<ApprovalAction>().notNull(),
    clientToken: text("client_token").notNull(),
    idempotencyKey: text("idempotency_key").notNull(),
    actor: text("actor"),
    body: text("body"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("approval_decisions_idempotency_key").on(t.idempotencyKey),
    uniqueIndex("approval_decisions_one_per_request").on(t.approvalRequestId),
  ],
);
