import { closeSync, constants, openSync, writeSync } from "node:fs";
import { open } from "node:fs/promises";
import { DevflowError } from "../errors.ts";
import type { TranscriptChunk } from "./runner.ts";

/** What a runner keeps of an execution's output when not told (DEVFLOW_TRANSCRIPT_MAX_MB). */
export const DEFAULT_TRANSCRIPT_MAX_BYTES = 16 * 1024 * 1024;
/** The longest chunk a reader returns: a longer line comes in pieces this size. */
export const TRANSCRIPT_LINE_MAX = 64 * 1024;
/** How much of the file one read of the disk takes. */
const SLICE = 256 * 1024;
const KIB = 1024;
const MIB = 1024 * KIB;

/** devflow's own copy of an execution's output: a file only devflow writes, capped. */
export interface TranscriptSink {
  /** Keeps `data` up to the cap; past it, counts what it drops. Never throws. */
  write(data: Buffer | string): void;
  /** Closes the file, first appending one note line if anything was cut. Idempotent. */
  close(): Promise<void>;
}

export interface TranscriptSinkOptions {
  /** What the file keeps of the output; the note of what was cut comes on top. */
  maxBytes: number;
}

/** A size as the note gives it: "16 MiB", "2.5 KiB", "300 bytes". */
function size(bytes: number): string {
  if (bytes < KIB) return `${bytes} bytes`;
  const [value, unit] = bytes < MIB ? [bytes / KIB, "KiB"] : [bytes / MIB, "MiB"];
  return `${value < 10 ? Number(value.toFixed(1)) : Math.round(value)} ${unit}`;
}

/**
 * Creates the file at `path` (it must not exist: a file or link there is refused,
 * never followed or appended to), readable by devflow only, and returns a sink that
 * keeps the first `maxBytes` of what is written. Put it in a directory of
 * devflow's that no sandbox mounts: whoever can write the file bypasses the cap.
 *
 * @example
 * const sink = openTranscriptSink(`${ioDir}.transcript.log`, { maxBytes: 16 * 1024 * 1024 });
 * stream.on("data", (data: Buffer) => sink.write(data));
 * stream.on("end", () => void sink.close());
 */
export function openTranscriptSink(path: string, options: TranscriptSinkOptions): TranscriptSink {
  const fd = openSync(
    path,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  let kept = 0;
  let dropped = 0;
  let endsLine = true;
  let failure: Error | undefined;
  let closed = false;

  const writeAll = (buffer: Buffer) => {
    let offset = 0;
    while (offset < buffer.length) offset += writeSync(fd, buffer, offset);
  };

  return {
    write(data) {
      if (closed) return;
      const buffer = typeof data === "string" ? Buffer.from(data) : data;
      const room = failure === undefined ? Math.max(0, options.maxBytes - kept) : 0;
      const keep = buffer.subarray(0, room);
      dropped += buffer.length - keep.length;
      if (keep.length === 0) return;
      try {
        writeAll(keep);
        kept += keep.length;
        endsLine = keep[keep.length - 1] === 0x0a;
      } catch (error) {
        // A full disk must not take the execution down: the rest is counted, and noted.
        failure = error as Error;
        dropped += keep.length;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        if (dropped > 0) {
          const why =
            failure === undefined
              ? `the transcript was cut at ${size(options.maxBytes)}`
              : `the transcript could not be written past ${size(kept)} (${failure.message})`;
          const note = `${endsLine ? "" : "\n"}devflow: ${why}; ${size(dropped)} more output was not kept\n`;
          writeAll(Buffer.from(note));
        }
      } catch {
        // The note is the one thing that may be missing from a file that could not be written.
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** Reads an execution's transcript incrementally: only bytes not read before. */
export interface TranscriptReader {
  /**
   * Chunks with seq > fromSeq: whole lines, numbered from 1 (a line longer than
   * TRANSCRIPT_LINE_MAX bytes comes in pieces, each counted), and the unfinished
   * last line only once `final`. Reading on from the last chunk returned reads only
   * what is new; from an earlier seq, the file again from the start.
   */
  read(fromSeq: number, options?: TranscriptReadOptions): Promise<TranscriptChunk[]>;
}

export interface TranscriptReadOptions {
  /** The output is complete: its unfinished last line is a line too. */
  final?: boolean;
  /** Return at most this many bytes of chunks (at least one chunk, when there is one). */
  maxBytes?: number;
  /** Return at most this many chunks. */
  maxChunks?: number;
}

/** Where `piece` (a full TRANSCRIPT_LINE_MAX) can end without cutting a UTF-8 character. */
function pieceEnd(piece: Buffer): number {
  // The last character's lead byte is among the last four; continuation bytes are 10xxxxxx.
  for (let back = 1; back <= 4 && back <= piece.length; back += 1) {
    const byte = piece[piece.length - back] ?? 0;
    if ((byte & 0xc0) === 0x80) continue;
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return length > back ? piece.length - back : piece.length;
  }
  return piece.length;
}

/** The file at `path`, opened for a read that neither follows a link nor waits on a FIFO. */
async function openRegular(path: string) {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ELOOP") throw error;
    throw notAFile(path, "a symbolic link", error);
  }
  const stat = await handle.stat();
  if (!stat.isFile()) {
    await handle.close();
    throw notAFile(path, "not a regular file", undefined);
  }
  return handle;
}

function notAFile(path: string, what: string, cause: unknown): DevflowError {
  return new DevflowError(`the transcript ${path} is ${what}: it is not read`, {
    class: "fatal",
    code: "transcript_not_a_file",
    category: "runner",
    cause,
  });
}

/**
 * A reader of the transcript file at `path` that remembers how far it read. Each
 * read opens the file afresh (refusing a link, a FIFO or a device), takes what is
 * new in slices of 256 KiB, and holds at most one slice and one unfinished piece of
 * a line besides the chunks it returns; `maxBytes` and `maxChunks` bound those.
 * A missing file rejects with the `ENOENT` error of `open`.
 *
 * @example
 * const reader = openTranscriptReader(`${ioDir}.transcript.log`);
 * const chunks = await reader.read(storedSeq, { maxBytes: 1024 * 1024 });
 */
export function openTranscriptReader(path: string): TranscriptReader {
  /** Where the first chunk not yet passed starts, and the seq of the chunk before it. */
  let offset = 0;
  let seq = 0;
  /**
   * Kept between reads: the unfinished piece moves to its start and the next slice
   * lands after it (a buffer per slice or per read is garbage at a flood's pace).
   */
  let window: Buffer | undefined;
  /** Reads go one at a time: each goes on from where the one before stopped. */
  let queue: Promise<unknown> = Promise.resolve();

  async function readOnce(
    fromSeq: number,
    options: TranscriptReadOptions,
  ): Promise<TranscriptChunk[]> {
    if (fromSeq < seq) {
      offset = 0;
      seq = 0;
    }
    const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    const maxChunks = options.maxChunks ?? Number.POSITIVE_INFINITY;
    const chunks: TranscriptChunk[] = [];
    let bytes = 0;
    /** Passes one chunk (returning it if it is after `fromSeq`); false when the budget is spent. */
    const take = (chunk: Buffer): boolean => {
      if (seq >= fromSeq) {
        if (chunks.length >= maxChunks) return false;
        if (chunks.length > 0 && bytes + chunk.length > maxBytes) return false;
        chunks.push({ seq: seq + 1, text: chunk.toString("utf8") });
        bytes += chunk.length;
      }
      seq += 1;
      offset += chunk.length;
      return true;
    };
    const handle = await openRegular(path);
    try {
      window ??= Buffer.allocUnsafe(TRANSCRIPT_LINE_MAX + SLICE);
      let start = 0;
      let end = 0;
      let atEnd = false;
      for (;;) {
        for (;;) {
          const pending = window.subarray(start, end);
          const newline = pending.subarray(0, TRANSCRIPT_LINE_MAX).indexOf(0x0a);
          let length: number;
          if (newline >= 0) length = newline + 1;
          else if (pending.length >= TRANSCRIPT_LINE_MAX)
            length = pieceEnd(pending.subarray(0, TRANSCRIPT_LINE_MAX));
          else break;
          if (!take(pending.subarray(0, length))) return chunks;
          start += length;
        }
        if (atEnd) break;
        window.copyWithin(0, start, end);
        end -= start;
        start = 0;
        const { bytesRead } = await handle.read(window, end, SLICE, offset + end);
        if (bytesRead === 0) atEnd = true;
        end += bytesRead;
      }
      if (options.final === true && end > start) take(window.subarray(start, end));
      return chunks;
    } finally {
      await handle.close();
    }
  }

  return {
    read(fromSeq, options = {}) {
      const result = queue.then(() => readOnce(fromSeq, options));
      queue = result.catch(() => undefined);
      return result;
    },
  };
}
