import type { AgentCommand, AgentView } from "../agents/agent-adapter.ts";
import type { RunnerHandle } from "../db/schema/index.ts";
import { DevflowError } from "../errors.ts";
import type { EgressPolicy } from "../security/egress-policy.ts";
import type { EgressDenial } from "./sandbox/egress-proxy.ts";

export type { RunnerHandle };

/** A host path shown read-only in the sandbox, at `target`. */
export interface ReadOnlyMount {
  source: string;
  target: string;
}

/** One agent execution, as the phase job asks a runner backend for it. */
export interface RunnerRequest {
  executionId: string;
  runId: string;
  phaseKey: string;
  attempt: number;
  revision: number;
  /** Host path of the checked-out run branch: the agent's working directory. */
  workspace: string;
  /** Host path of this execution's own files (prompt, schema, transcript). */
  ioDir: string;
  /** Built by the agent adapter against this runner's `view`. */
  command: AgentCommand;
  /** Host environment variables the agent may have (its model key), by name. */
  passEnv: readonly string[];
  /** Host paths the agent may read but not write (devflow's object store). */
  readOnly: ReadOnlyMount[];
  /** Where the agent may connect: its model API and what the operator allowed. */
  egress: EgressPolicy;
  /** Told of each connection the sandbox refused, as it happens. */
  onEgressDenied?: (denial: EgressDenial) => void;
  /** The wall-clock limit of this execution, enforced by the runner, not the agent. */
  timeoutMs: number;
}

export interface RunnerExit {
  exitCode: number | null;
  timedOut: boolean;
  /** Stopped from outside (pause, abort, a superseded attempt). */
  stopped: boolean;
  /** Connections the sandbox refused, when the backend has an egress proxy. */
  egressDenied?: EgressDenial[];
}

export interface TranscriptChunk {
  seq: number;
  text: string;
}

/** How much one `capture` may return: a caller storing a flood of output reads it in batches. */
export interface CaptureOptions {
  /** Bytes of chunks; a first chunk larger than this is still returned. */
  maxBytes?: number;
  maxChunks?: number;
}

/** The error code a runner's `capture` uses for an execution it no longer has. */
export const RUNNER_EXECUTION_GONE = "runner_execution_gone";

/** The error a runner's `capture` throws for an execution it no longer has. */
export function executionGone(what: string, cause: unknown): DevflowError {
  return new DevflowError(`the execution's ${what} is gone`, {
    class: "recoverable",
    code: RUNNER_EXECUTION_GONE,
    category: "runner",
    cause,
  });
}

/**
 * A place agents run: a process, a container, a Kubernetes Job. Handles are
 * plain data, persisted by the engine, so any process can capture or dispose an
 * execution another one started. `dispose` is idempotent and stops the execution
 * if it is still running; `capture` of an execution that was removed returns
 * nothing or throws a `DevflowError` with code `runner_execution_gone`, and any
 * other error it throws is a real failure that cleanup reports.
 *
 * `capture` returns the transcript's chunks after `fromSeq`, one line each (a line
 * may come in pieces), numbered from 1 the same way by every process; a backend
 * keeps at most its configured cap of an execution's output, and returns an
 * unfinished last line only once the output is complete. Given `options`, it
 * returns at most that much, and the caller captures again from the last seq.
 */
export interface Runner {
  readonly backend: string;
  /** Where the agent will see the workspace and its files. */
  view(request: Pick<RunnerRequest, "workspace" | "ioDir">): AgentView;
  start(request: RunnerRequest): Promise<RunnerHandle>;
  wait(handle: RunnerHandle): Promise<RunnerExit>;
  capture(
    handle: RunnerHandle,
    fromSeq: number,
    options?: CaptureOptions,
  ): Promise<TranscriptChunk[]>;
  dispose(handle: RunnerHandle): Promise<void>;
  /**
   * Removes what this backend still runs on this host for executions that are over
   * (`isOver` tells which of the given ids are), whoever started them; returns the
   * execution ids it reaped. Run by every worker at start and at each sweep interval.
   */
  reap?(isOver: (executionIds: string[]) => Promise<Set<string>>): Promise<string[]>;
}

/** Splits text held in memory into transcript chunks numbered from 1, one per line. */
export function toChunks(text: string, fromSeq: number): TranscriptChunk[] {
  if (text === "") return [];
  const lines = text.split(/(?<=\n)/);
  return lines.slice(fromSeq).map((line, index) => ({ seq: fromSeq + index + 1, text: line }));
}
