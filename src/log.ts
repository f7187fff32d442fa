import { AsyncLocalStorage } from "node:async_hooks";
import { hostname } from "node:os";
import pino, { type Logger } from "pino";

/** What a log line is about: set once where work starts, carried by every line it writes. */
export interface LogContext {
  runId?: string;
  deliveryId?: string;
  jobId?: string;
  queue?: string;
}

const context = new AsyncLocalStorage<LogContext>();

/** Runs `fn` with `fields` added to every log line written inside it (async work included). */
export function withLogContext<T>(fields: LogContext, fn: () => T): T {
  return context.run({ ...context.getStore(), ...fields }, fn);
}

/** This process among devflow's processes: host and pid, as recorded on each execution. */
export const WORKER_ID = `${hostname()}:${process.pid}`;

/**
 * devflow's logger: one JSON line per log event, with an ISO time, the process's
 * role and worker id, and the run id, delivery id and job id of the work it is
 * about (from withLogContext), so `jq 'select(.runId == "…")'` follows one run
 * across every process.
 */
export function createLogger({
  level,
  role,
  stderr = false,
}: {
  level: string;
  role: string;
  /** Commands whose stdout is their answer (`devflow runs`, `doctor`) log to stderr. */
  stderr?: boolean;
}): Logger {
  return pino(
    {
      level,
      base: { service: "devflow", role, worker: WORKER_ID },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin: () => ({ ...context.getStore() }),
    },
    pino.destination(stderr ? 2 : 1),
  );
}
