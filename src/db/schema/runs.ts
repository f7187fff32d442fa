import { sql } from "drizzle-orm";
import {
  bigint,
  check,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { workflowTemplates } from "./registry.ts";

export const RUN_STATES = [
  "queued",
  "planning",
  "executing",
  "awaiting_approval",
  "paused",
  "completed",
  "failed",
  "aborted",
] as const;
export type RunState = (typeof RUN_STATES)[number];
/** The states a run ends in; nothing changes a run in one of them. The one list of them. */
export const TERMINAL_RUN_STATES = ["completed", "failed", "aborted"] as const;
export type TerminalRunState = (typeof TERMINAL_RUN_STATES)[number];

export function isTerminal(state: string): state is TerminalRunState {
  return (TERMINAL_RUN_STATES as readonly string[]).includes(state);
}

/** A failure as users see it: which category, which code, what happened. */
export interface FailureRecord {
  category: string;
  code: string;
  message: string;
}

/** What the agent layer needs to know per run (scripted scenarios, agent per role). */
export interface RunAgentConfig {
  /** The repository's choice of agent (.github/devflow.yml), over DEVFLOW_AGENT. */
  agent?: string;
  scripted?: Record<string, unknown>;
}

/**
 * One workflow run for one issue of one repository. The partial unique index
 * `runs_one_active_per_issue` is what makes "one active run per issue" hold under
 * any concurrency: the engine's check gives the friendly error, the index the guarantee.
 */
export const runs = pgTable(
  "runs",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    repository: text("repository").notNull(),
    repositoryId: bigint("repository_id", { mode: "number" }),
    installationId: bigint("installation_id", { mode: "number" }),
    issueNumber: integer("issue_number").notNull(),
    issueTitle: text("issue_title").notNull(),
    requirements: text("requirements").notNull(),
    baseBranch: text("base_branch").notNull(),
    branch: text("branch").notNull(),
    cloneUrl: text("clone_url"),
    /** The run's draft pull request, once it exists: reviews and buttons on it find the run by it. */
    pullRequestNumber: integer("pull_request_number"),
    templateId: uuid("template_id")
      .notNull()
      .references(() => workflowTemplates.id),
    templateName: text("template_name").notNull(),
    templateVersion: integer("template_version").notNull(),
    templateHash: text("template_hash").notNull(),
    state: text("state").$type<RunState>().notNull(),
    pausedFromState: text("paused_from_state").$type<RunState>(),
    currentPhaseId: uuid("current_phase_id"),
    startKey: text("start_key").notNull(),
    inputHash: text("input_hash").notNull(),
    agentConfig: jsonb("agent_config").$type<RunAgentConfig>().notNull().default({}),
    startedBy: text("started_by"),
    /** One budget for what agents may cost this run, in US dollars; null: no limit. */
    budgetUsd: doublePrecision("budget_usd"),
    /** How many budgets the run has been granted: a person approving budget_exhausted adds one. */
    budgetGrants: integer("budget_grants").notNull().default(1),
    /** The repository's own cap on active runs (.github/devflow.yml), under devflow's. */
    repositoryCap: integer("repository_cap"),
    failure: jsonb("failure").$type<FailureRecord>(),
    lastEventSeq: bigint("last_event_seq", { mode: "number" }).notNull().default(0),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    admittedAt: timestamp("admitted_at", { withTimezone: true }),
    endedAt: timestamp("ended_at", { withTimezone: true }),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("runs_start_key").on(t.startKey),
    uniqueIndex("runs_one_active_per_issue")
      .on(t.repository, t.issueNumber)
      .where(sql`${t.state} not in ('completed', 'failed', 'aborted')`),
    index("runs_state_created").on(t.state, t.createdAt),
    check(
      "runs_state_valid",
      sql`${t.state} in ('queued','planning','executing','awaiting_approval','paused','completed','failed','aborted')`,
    ),
    check(
      "runs_paused_from_only_when_paused",
      sql`(${t.state} = 'paused') = (${t.pausedFromState} is not null)`,
    ),
  ],
);

/**
 * Which persona (and agent) plays each role in a run; snapshotted at start, the
 * persona's text included, so a run prompts with what it started with.
 */
export const runBindings = pgTable(
  "run_bindings",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    runId: uuid("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    role: text("role").notNull(),
    persona: text("persona").notNull(),
    /** The persona file's hash and body when the run started (null on runs from before). */
    personaHash: text("persona_hash"),
    personaBody: text("persona_body"),
    agent: text("agent"),
  },
  (t) => [uniqueIndex("run_bindings_run_role").on(t.runId, t.role)],
);

/** The final report of a terminal run: JSON (valid against common/final-report@1) and Markdown. */
export const runReports = pgTable("run_reports", {
  runId: uuid("run_id")
    .primaryKey()
    .references(() => runs.id, { onDelete: "cascade" }),
  status: text("status").$type<RunState>().notNull(),
  path: text("path").notNull(),
  json: jsonb("json").notNull(),
  markdown: text("markdown").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});
