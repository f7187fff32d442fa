/**
 * Every failure devflow reports carries one of these classes:
 * - `recoverable`: retrying may help (a job throws it and pg-boss retries);
 * - `fatal`: retrying will not help; the handler turns it into a state transition;
 * - `human`: a person must decide (a conflict, a gate, a permission).
 */
export type ErrorClass = "recoverable" | "fatal" | "human";

/** What kind of thing failed, as users see it in checks, comments and reports. */
export const FAILURE_CATEGORIES = [
  "agent_error",
  "timeout",
  "budget",
  "invalid_artifact",
  "github_api",
  "git",
  "runner",
  "secret_detected",
  "internal",
  "human",
] as const;
export type FailureCategory = (typeof FAILURE_CATEGORIES)[number];

export interface DevflowErrorOptions {
  class: ErrorClass;
  code: string;
  category?: FailureCategory;
  recoveryHint?: string;
  cause?: unknown;
}

/**
 * The one error type devflow throws across layers.
 *
 * @example
 * throw new DevflowError("run 42 is already active", {
 *   class: "human",
 *   code: "active_run_exists",
 *   recoveryHint: JSON.stringify({ currentRunId, currentState }),
 * });
 */
export class DevflowError extends Error {
  readonly class: ErrorClass;
  readonly code: string;
  readonly category: FailureCategory;
  readonly recoveryHint: string | undefined;

  constructor(message: string, options: DevflowErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "DevflowError";
    this.class = options.class;
    this.code = options.code;
    this.category = options.category ?? (options.class === "human" ? "human" : "internal");
    this.recoveryHint = options.recoveryHint;
  }
}

/** Asserts an input at a public boundary, with a message that says what was wrong. */
export function assertInput(condition: unknown, message: string): asserts condition {
  if (!condition) {
    throw new DevflowError(message, { class: "fatal", code: "invalid_input" });
  }
}

export function isDevflowError(error: unknown): error is DevflowError {
  return error instanceof DevflowError;
}
