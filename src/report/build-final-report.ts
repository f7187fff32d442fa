import { and, asc, eq } from "drizzle-orm";
import type { Tx } from "../db/client.ts";
import type { RunRow } from "../db/rows.ts";
import {
  approvalRequests,
  artifacts,
  phaseAttempts,
  runEvents,
  runPhases,
} from "../db/schema/index.ts";
import {
  type FinalReport,
  type ImplementationWork,
  type RevisionReport,
  runDirectory,
} from "./final-report.ts";

function span(start: Date | null, end: Date | null): number | null {
  return start === null || end === null ? null : Math.max(0, end.getTime() - start.getTime());
}

/**
 * Builds the final report of a terminal run from what the database holds: phases
 * with attempts, time and cost; every approval request; every artifact revision;
 * what is left unresolved; and the failure, when the run did not complete.
 */
export async function buildFinalReport(tx: Tx, run: RunRow): Promise<FinalReport> {
  // One transaction is one connection: these run one after the other.
  const phases = await tx
    .select()
    .from(runPhases)
    .where(eq(runPhases.runId, run.id))
    .orderBy(asc(runPhases.seq));
  const attempts = await tx.select().from(phaseAttempts).where(eq(phaseAttempts.runId, run.id));
  const approvals = await tx
    .select()
    .from(approvalRequests)
    .where(eq(approvalRequests.runId, run.id))
    .orderBy(asc(approvalRequests.createdAt), asc(approvalRequests.id));
  const artifactRows = await tx
    .select()
    .from(artifacts)
    .where(eq(artifacts.runId, run.id))
    .orderBy(asc(artifacts.createdAt), asc(artifacts.revision));
  const phaseKey = new Map(phases.map((phase) => [phase.id, phase.phaseKey]));
  const endedAt = run.endedAt ?? new Date();
  const startedAt = run.admittedAt ?? run.createdAt;

  const reportPhases = phases.map((phase) => {
    const own = attempts.filter((attempt) => attempt.phaseId === phase.id);
    const costs = own.map((attempt) => attempt.costUsd).filter((cost) => cost !== null);
    const gates = approvals.filter((approval) => approval.phaseId === phase.id);
    return {
      key: phase.phaseKey,
      state: phase.state,
      attempts: phase.attempts,
      durationMs: span(phase.startedAt, phase.endedAt),
      costUsd: costs.length === 0 ? null : costs.reduce((sum, cost) => sum + cost, 0),
      workingMs: sum(own.map((attempt) => span(attempt.startedAt, attempt.endedAt ?? endedAt))),
      waitingMs: sum(gates.map((gate) => span(gate.createdAt, gate.resolvedAt ?? endedAt))),
    };
  });
  // What people read first: what the final implementation built, what the spec left open.
  const lastValid = (schemaId: string, phaseKeyWanted?: string) =>
    artifactRows
      .filter(
        (artifact) =>
          artifact.valid &&
          artifact.schemaId === schemaId &&
          (phaseKeyWanted === undefined || phaseKey.get(artifact.phaseId) === phaseKeyWanted),
      )
      .at(-1)?.content as Record<string, unknown> | undefined;
  const lastPhase = phases.at(-1)?.phaseKey;
  const implementation =
    lastValid("dev/implementation@1", lastPhase) ?? lastValid("dev/implementation@1");
  const spec = lastValid("dev/spec@1");
  const revised = await tx
    .select({ payload: runEvents.payload, at: runEvents.createdAt })
    .from(runEvents)
    .where(and(eq(runEvents.runId, run.id), eq(runEvents.type, "run.revised")))
    .orderBy(asc(runEvents.seq));
  const revisions: RevisionReport[] = revised.map(({ payload, at }) => {
    const asked = payload as {
      revision: number;
      attempt: number;
      actor: string | null;
      asked: string;
      phaseKey: string;
    };
    const phase = phases.find((row) => row.phaseKey === asked.phaseKey);
    const attempt = attempts.find(
      (row) => row.phaseId === phase?.id && row.attempt === asked.attempt,
    );
    const produced = artifactRows
      .filter(
        (artifact) =>
          artifact.phaseId === phase?.id && artifact.attempt === asked.attempt && artifact.valid,
      )
      .at(-1)?.content as { summary?: unknown } | undefined;
    return {
      revision: asked.revision,
      actor: asked.actor,
      asked: asked.asked,
      at: at.toISOString(),
      attempt: asked.attempt,
      summary: typeof produced?.summary === "string" ? produced.summary : null,
      costUsd: attempt?.costUsd ?? null,
      workingMs: attempt === undefined ? null : span(attempt.startedAt, attempt.endedAt),
    };
  });

  const unresolved: string[] = [];
  for (const approval of approvals) {
    if (approval.state === "pending" || approval.state === "aborted") {
      unresolved.push(`gate ${approval.gateKey} was never decided (${approval.state})`);
    }
  }
  for (const phase of phases) {
    if (phase.state === "failed") unresolved.push(`phase ${phase.phaseKey} failed`);
    if (
      phase.state === "pending" ||
      phase.state === "running" ||
      phase.state === "awaiting_approval"
    ) {
      unresolved.push(`phase ${phase.phaseKey} did not finish (${phase.state})`);
    }
  }

  const report: FinalReport = {
    runId: run.id,
    status: run.state as FinalReport["status"],
    repository: run.repository,
    issue: run.issueNumber,
    pullRequest: null,
    template: `${run.templateName}@${run.templateVersion}`,
    startedAt: startedAt.toISOString(),
    endedAt: endedAt.toISOString(),
    phases: reportPhases,
    approvals: approvals.map((approval) => ({
      gateKey: approval.gateKey,
      state: approval.state,
      actor: approval.resolvedBy,
      at: approval.resolvedAt?.toISOString() ?? null,
    })),
    artifacts: artifactRows.map((artifact) => ({
      phaseKey: phaseKey.get(artifact.phaseId) ?? "unknown",
      schemaId: artifact.schemaId,
      path: artifact.path,
      valid: artifact.valid,
    })),
    unresolved,
    ...(revisions.length === 0 ? {} : { revisions }),
    ...(implementation === undefined ? {} : { work: workOf(implementation) }),
    ...(spec === undefined
      ? {}
      : { openQuestions: strings(spec.openQuestions), risks: strings(spec.risks) }),
    totals: {
      durationMs: Math.max(0, endedAt.getTime() - startedAt.getTime()),
      costUsd: reportPhases.reduce((sum, phase) => sum + (phase.costUsd ?? 0), 0),
      attempts: reportPhases.reduce((sum, phase) => sum + phase.attempts, 0),
    },
  };
  if (run.state !== "completed") {
    report.failure = run.failure ?? {
      category: "internal",
      code: "unknown",
      message: `run ended ${run.state} without a recorded failure`,
    };
  }
  return report;
}

function sum(values: (number | null)[]): number {
  return values.reduce<number>((total, value) => total + (value ?? 0), 0);
}

function strings(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((item): item is string => typeof item === "string")
    : [];
}

/** The fields of a valid dev/implementation@1 artifact the report carries. */
function workOf(content: Record<string, unknown>): ImplementationWork {
  const records = (value: unknown) =>
    Array.isArray(value) ? (value as Record<string, unknown>[]) : [];
  const optional = (key: string, value: unknown) =>
    typeof value === "string" ? { [key]: value } : {};
  return {
    summary: typeof content.summary === "string" ? content.summary : "",
    filesChanged: records(content.filesChanged).map((file) => ({
      path: String(file.path),
      change: String(file.change),
      ...optional("description", file.description),
    })),
    testsRun: records(content.testsRun).map((test) => ({
      command: String(test.command),
      result: String(test.result),
      ...optional("details", test.details),
    })),
    followUps: strings(content.followUps),
  };
}

/** The report's files on the run branch, committed when the run ends. */
export function reportPath(runId: string): string {
  return `${runDirectory(runId)}/report.md`;
}

export function reportJsonPath(runId: string): string {
  return `${runDirectory(runId)}/report.json`;
}
