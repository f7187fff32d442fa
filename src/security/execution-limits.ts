/**
 * How much one execution may use and leave behind. Settings read them from the
 * environment; the sandbox and the commit check enforce them.
 */

/** What one sandbox may use (DEVFLOW_SANDBOX_PIDS, _MEMORY_MB, _TMP_MB). */
export interface SandboxLimits {
  pids: number;
  memoryMb: number;
  tmpMb: number;
}

export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = { pids: 1024, memoryMb: 4096, tmpMb: 1024 };

/** How much one attempt's commit may hold. */
export interface CommitLimits {
  /** Files it may add, change or delete (DEVFLOW_MAX_COMMIT_FILES). */
  maxFiles: number;
  /** MiB of content its added and changed files may hold together (DEVFLOW_MAX_COMMIT_MB). */
  maxMb: number;
}

export const DEFAULT_COMMIT_LIMITS: CommitLimits = { maxFiles: 10_000, maxMb: 100 };
