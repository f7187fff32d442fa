/**
 * The follow-up work the engine asks for. Each transition enqueues these in its
 * own transaction (the transactional outbox); `jobs/` holds one handler per queue.
 */
export const QUEUES = {
  advanceRun: "run-advance",
  executePhase: "phase-execute",
  cleanupRun: "run-cleanup",
  admitRuns: "runs-admit",
  sweep: "runs-sweep",
  processDelivery: "webhook-process",
  publishRun: "run-publish",
  deadLetter: "jobs-dead-letter",
  reconcileDeliveries: "deliveries-reconcile",
  finishBranch: "run-finish-branch",
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export interface ReconcileDeliveriesPayload {
  reason: string;
}

export interface AdvanceRunPayload {
  runId: string;
  reason: string;
}

export interface ExecutePhasePayload {
  runId: string;
  phaseId: string;
  attemptId: string;
  attempt: number;
}

export interface CleanupRunPayload {
  runId: string;
  reason: string;
  /** Only these executions (a paused attempt); all of the run's when absent. */
  executionIds?: string[];
}

export type AdmitRunsPayload = { reason: string };
export type SweepPayload = { reason: string };
/**
 * Recorded deliveries to process, in the order they arrived: a batch from the
 * dispatcher, or one delivery alone (a batch's failure, retried on its own).
 * `deliveryId` is the shape jobs queued by earlier versions carry.
 */
export type ProcessDeliveryPayload = { deliveryIds: string[] } | { deliveryId: string };
export type PublishRunPayload = { runId: string };
export type FinishBranchPayload = { runId: string };

export interface QueuePayloads {
  "run-advance": AdvanceRunPayload;
  "phase-execute": ExecutePhasePayload;
  "run-cleanup": CleanupRunPayload;
  "runs-admit": AdmitRunsPayload;
  "runs-sweep": SweepPayload;
  "webhook-process": ProcessDeliveryPayload;
  "run-publish": PublishRunPayload;
  "jobs-dead-letter": Record<string, unknown>;
  "deliveries-reconcile": ReconcileDeliveriesPayload;
  "run-finish-branch": FinishBranchPayload;
}
