import type { ScriptedScenario } from "../agents/scripted/scenarios.ts";
import type { RunnerHandle } from "../db/schema/index.ts";

export type { RunnerHandle };

/** One agent execution, as the phase job asks a runner backend for it. */
export interface RunnerRequest {
  executionId: string;
  runId: string;
  phaseKey: string;
  attempt: number;
  revision: number;
  /** Which agent adapter runs (`scripted`, `claude-code`, ...). */
  agent: string;
  schemaId: string;
  prompt: string;
  /** The wall-clock limit of this execution, enforced by the runner, not the agent. */
  timeoutMs: number;
  /** For the scripted agent: which fixture to play. */
  scenario?: ScriptedScenario;
}

/** An error the agent adapter could name (a fatal one fails the run instead of retrying). */
export interface AgentErrorReport {
  code: string;
  fatal: boolean;
  message: string;
}

export interface RunnerExit {
  exitCode: number | null;
  timedOut: boolean;
  /** Stopped from outside (pause, abort, a superseded attempt). */
  stopped: boolean;
  /** What the agent wrote to its output path: the artifact, as text. */
  output: string | null;
  error?: AgentErrorReport;
  costUsd?: number;
  tokens?: { input?: number; output?: number };
}

export interface TranscriptChunk {
  seq: number;
  text: string;
}

/** The error code a runner's `capture` uses for an execution it no longer has. */
export const RUNNER_EXECUTION_GONE = "runner_execution_gone";

/**
 * A place agents run: a process, a container, a Kubernetes Job. Handles are
 * plain data, persisted by the engine, so any process can capture or dispose an
 * execution another one started. `dispose` is idempotent and stops the execution
 * if it is still running; `capture` of an execution that was removed returns
 * nothing or throws a `DevflowError` with code `runner_execution_gone`, and any
 * other error it throws is a real failure that cleanup reports.
 */
export interface Runner {
  readonly backend: string;
  start(request: RunnerRequest): Promise<RunnerHandle>;
  wait(handle: RunnerHandle): Promise<RunnerExit>;
  capture(handle: RunnerHandle, fromSeq: number): Promise<TranscriptChunk[]>;
  dispose(handle: RunnerHandle): Promise<void>;
}
