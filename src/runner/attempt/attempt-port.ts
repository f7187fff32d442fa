import type { Engine } from "../../engine/create-engine.ts";

/**
 * What an attempt reads from the engine and reports to it — all the runner layer
 * may ask of the engine: the attempt's context, the bookkeeping of its executions,
 * and its result (or its hand-back to a new attempt).
 */
export type AttemptPort = Pick<
  Engine,
  | "getAttemptContext"
  | "registerExecution"
  | "recordExecutionHandle"
  | "heartbeatExecution"
  | "heartbeatAttempt"
  | "appendTranscript"
  | "recordAttemptSpending"
  | "finishExecution"
  | "supersedeAttempt"
  | "recordPhaseResult"
>;
