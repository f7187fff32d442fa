import type { TerminalRunState } from "../db/schema/index.ts";

/** The shape of `schemas/common/final-report@1.schema.json`; `test/report` checks they agree. */
export interface FinalReport {
  runId: string;
  status: TerminalRunState;
  repository: string;
  issue: number;
  pullRequest: number | null;
  template: string;
  startedAt: string;
  endedAt: string;
  phases: {
    key: string;
    state: string;
    attempts: number;
    durationMs: number | null;
    costUsd: number | null;
    /** Time its attempts ran: the agents' working time. */
    workingMs?: number;
    /** Time it waited at gates for people. */
    waitingMs?: number;
  }[];
  approvals: { gateKey: string; state: string; actor: string | null; at: string | null }[];
  artifacts: { phaseKey: string; schemaId: string; path: string; valid: boolean }[];
  unresolved: string[];
  /** What was built: the final implementation's artifact. */
  work?: ImplementationWork;
  /** The spec's open questions and risks. */
  openQuestions?: string[];
  risks?: string[];
  failure?: { category: string; code: string; message: string };
  totals: { durationMs: number; costUsd: number; attempts: number };
}

/** The shape of a dev/implementation@1 artifact, as the report carries it. */
export interface ImplementationWork {
  summary: string;
  filesChanged: { path: string; change: string; description?: string }[];
  testsRun: { command: string; result: string; details?: string }[];
  followUps: string[];
}

/** Where a run's files live on its branch. */
export function runDirectory(runId: string): string {
  return `.devflow/runs/${runId}`;
}
