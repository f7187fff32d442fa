import { isDevflowError } from "../errors.ts";

/**
 * What `devflow` exits with, for scripts: 0 done; 1 failed (an error, a doctor
 * check that failed, an invalid template); 2 wrong usage; 3 no such run; 4 the
 * run is in a state where the command does not apply (pausing a completed run).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, notFound: 3, refused: 4 } as const;

/** Wrong arguments: `devflow` prints the message and the command's usage, and exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The exit code an error thrown by a command stands for. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return EXIT.usage;
  if (isDevflowError(error)) {
    if (error.code === "run_not_found") return EXIT.notFound;
    if (error.class === "human") return EXIT.refused;
  }
  return EXIT.failed;
}
