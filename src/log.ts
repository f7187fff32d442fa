import { AsyncLocalStorage } from "node:async_hooks";
import { hostname } from "node:os";
import pino, { type DestinationStream, type Logger } from "pino";
import { prettyFactory } from "pino-pretty";

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

/** How log lines are written: one JSON object each, or pino-pretty's lines for a person. */
export type LogFormat = "json" | "pretty";

/**
 * Pretty for a person reading a terminal, as Probot does; JSON for whatever else
 * reads the stream (a file, journald, a log shipper, devflow's own tests).
 * `LOG_FORMAT` (`json` or `pretty`) decides either way.
 */
export function logFormat({
  isTTY,
  env,
}: {
  isTTY: boolean | undefined;
  env: Record<string, string | undefined>;
}): LogFormat {
  const chosen = env.LOG_FORMAT?.trim().toLowerCase();
  if (chosen === "json" || chosen === "pretty") return chosen;
  return isTTY === true ? "pretty" : "json";
}

/** pino-pretty in this thread and synchronous, so a line logged right before exit is written. */
function prettyDestination(fd: 1 | 2): DestinationStream {
  const out = pino.destination({ fd, sync: true });
  const pretty = prettyFactory({
    colorize: (fd === 2 ? process.stderr : process.stdout).isTTY === true,
    // The same on every line a terminal shows: one process.
    ignore: "service,role,worker",
  });
  return { write: (line: string) => out.write(pretty(line)) };
}

/**
 * devflow's logger: one JSON line per log event, with an ISO time, the process's
 * role and worker id, and the run id, delivery id and job id of the work it is
 * about (from withLogContext), so `jq 'select(.runId == "…")'` follows one run
 * across every process. At a terminal, the same events as pino-pretty writes them.
 */
export function createLogger({
  level,
  role,
  stderr = false,
  format = logFormat({
    isTTY: (stderr ? process.stderr : process.stdout).isTTY,
    env: process.env,
  }),
}: {
  level: string;
  role: string;
  /** Commands whose stdout is their answer (`devflow runs`, `doctor`) log to stderr. */
  stderr?: boolean;
  format?: LogFormat;
}): Logger {
  const fd = stderr ? 2 : 1;
  return pino(
    {
      level,
      base: { service: "devflow", role, worker: WORKER_ID },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin: () => ({ ...context.getStore() }),
    },
    format === "pretty" ? prettyDestination(fd) : pino.destination(fd),
  );
}
