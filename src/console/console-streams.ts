import type { ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Db } from "../db/client.ts";
import { TRANSCRIPT_LIMIT } from "../engine/execution-records.ts";
import { SECURITY_HEADERS } from "./http-helpers.ts";
import { runsVersion } from "./list-runs.ts";
import { sessionProgress, transcriptSlice } from "./load-run.ts";

export interface StreamOptions {
  res: ServerResponse;
  /** Whose stream it is: each person has at most STREAMS_PER_PERSON open at once. */
  owner: string;
  db: Db;
  log: Logger;
  pollMs: number;
  /** Asked again every minute: a stream ends when the person may no longer read what it shows. */
  stillAllowed: () => Promise<boolean>;
}

/** Streams one person may hold open at once (a page holds one; a few tabs, a few). */
export const STREAMS_PER_PERSON = 8;
/** Streams one process serves at once. */
export const STREAMS_PER_PROCESS = 200;
/**
 * How long a stream lasts: then it ends and the browser's EventSource opens a new
 * one, checked afresh (the page's offsets keep it from showing anything twice).
 */
export const STREAM_LIFETIME_MS = 5 * 60_000;
/** A client that reads slower than this much waiting output is cut off, not buffered for. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

const open = new Map<string, number>();
let openTotal = 0;

/** Takes a stream slot for `owner`; false when they (or this process) have too many. */
function takeSlot(owner: string): boolean {
  const mine = open.get(owner) ?? 0;
  if (mine >= STREAMS_PER_PERSON || openTotal >= STREAMS_PER_PROCESS) return false;
  open.set(owner, mine + 1);
  openTotal += 1;
  return true;
}

function releaseSlot(owner: string): void {
  const mine = (open.get(owner) ?? 1) - 1;
  if (mine <= 0) open.delete(owner);
  else open.set(owner, mine);
  openTotal = Math.max(0, openTotal - 1);
}

/**
 * A server-sent event stream that polls the database: whichever process (a worker
 * on another host included) wrote a change, the stream sees it. `tick` sends what
 * changed since the last one.
 */
async function stream(
  options: StreamOptions,
  tick: (send: (event: string, data: unknown) => void) => Promise<void>,
): Promise<void> {
  const { res } = options;
  if (!takeSlot(options.owner)) {
    res.writeHead(429, { ...SECURITY_HEADERS, "retry-after": "30", "content-type": "text/plain" });
    res.end("too many live views open: close a few and reload\n");
    return;
  }
  try {
    await serve(options, tick);
  } finally {
    releaseSlot(options.owner);
  }
}

async function serve(
  options: StreamOptions,
  tick: (send: (event: string, data: unknown) => void) => Promise<void>,
): Promise<void> {
  const { res } = options;
  const opened = Date.now();
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-store",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  res.write("retry: 2000\n\n");
  const send = (event: string, data: unknown) => {
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  let closed = false;
  let lastCheck = Date.now();
  let lastWrite = Date.now();
  // The response closes when the browser goes away (or the server stops).
  res.on("close", () => {
    closed = true;
  });
  while (!closed) {
    // A client that does not read gets no more; a long stream starts over, checked again.
    if (res.writableLength > MAX_BUFFERED_BYTES || Date.now() - opened > STREAM_LIFETIME_MS) break;
    try {
      if (Date.now() - lastCheck > 60_000) {
        lastCheck = Date.now();
        if (!(await options.stillAllowed())) break;
      }
      const before = res.writableLength;
      await tick(send);
      if (res.writableLength !== before) lastWrite = Date.now();
      if (Date.now() - lastWrite > 15_000) {
        res.write(": keep-alive\n\n");
        lastWrite = Date.now();
      }
    } catch (error) {
      options.log.warn({ err: error }, "console stream failed");
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs));
  }
  res.end();
}

/** `changed` whenever one of the listed repositories' runs changes. */
export function streamRuns(options: StreamOptions & { repositories: string[] }): Promise<void> {
  let version: string | undefined;
  return stream(options, async (send) => {
    const now = await runsVersion(options.db, options.repositories);
    // The first answer too: the page may have been rendered before a change the stream never saw.
    if (now !== version) send("changed", {});
    version = now;
  });
}

/**
 * One run: `changed` with its state whenever it records an event, and
 * `transcript` with what its agents printed since the client's copy (`have`: the
 * length of each transcript the page already shows); `reset` replaces a transcript
 * that outgrew what is kept and dropped its start.
 */
export function streamRun(
  options: StreamOptions & {
    runId: string;
    have: Map<string, number>;
    /** The last event the client's page shows: a change since then is sent at once. */
    seq: number | undefined;
  },
): Promise<void> {
  const sent = new Map<string, { length: number; captured: number }>(
    [...options.have].map(([id, length]) => [id, { length, captured: -1 }]),
  );
  let seq = options.seq;
  // A transcript at its kept limit drops its start with every append: it is sent
  // whole again at most this often, not on every poll.
  const RESET_EVERY_MS = 30_000;
  const lastReset = new Map<string, number>();
  return stream(options, async (send) => {
    const progress = await sessionProgress(options.db, options.runId);
    if (seq !== undefined && progress.seq !== seq) send("changed", { state: progress.state });
    seq = progress.seq;
    for (const execution of progress.executions) {
      const known = sent.get(execution.id) ?? { length: 0, captured: -1 };
      const rotated =
        execution.length < known.length ||
        (execution.length >= TRANSCRIPT_LIMIT &&
          known.captured >= 0 &&
          execution.captured !== known.captured);
      if (rotated && Date.now() - (lastReset.get(execution.id) ?? 0) < RESET_EVERY_MS) continue;
      if (rotated) {
        lastReset.set(execution.id, Date.now());
        const text = await transcriptSlice(options.db, execution.id, 0);
        send("transcript", { id: execution.id, from: 0, text, reset: true });
      } else if (execution.length > known.length) {
        const text = await transcriptSlice(options.db, execution.id, known.length);
        send("transcript", { id: execution.id, from: known.length, text });
      }
      sent.set(execution.id, { length: execution.length, captured: execution.captured });
    }
  });
}
