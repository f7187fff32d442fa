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
  }[];
  approvals: { gateKey: string; state: string; actor: string | null; at: string | null }[];
  artifacts: { phaseKey: string; schemaId: string; path: string; valid: boolean }[];
  unresolved: string[];
  failure?: { category: string; code: string; message: string };
  totals: { durationMs: number; costUsd: number; attempts: number };
}

/** Where a run's files live on its branch. */
export function runDirectory(runId: string): string {
  return `.devflow/runs/${runId}`;
}
