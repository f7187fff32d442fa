import { execFileSync } from "node:child_process";
import {
  appendFileSync,
  closeSync,
  ftruncateSync,
  openSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  openTranscriptReader,
  openTranscriptSink,
  TRANSCRIPT_LINE_MAX,
} from "../../src/runner/transcript-file.ts";
import { tempDir } from "../helpers/git-fixtures.ts";

const MIB = 1024 * 1024;
const texts = (chunks: { text: string }[]) => chunks.map((chunk) => chunk.text);

describe("a transcript sink", () => {
  it("keeps the output up to its cap and notes, on a line of its own, how much more was cut", async () => {
    const path = join(tempDir("sink"), "transcript.log");
    const sink = openTranscriptSink(path, { maxBytes: 2500 });
    for (let i = 0; i < 3; i += 1) sink.write(`${String(i).repeat(999)}\n`);
    sink.write(Buffer.alloc(100_000, "z"));
    await sink.close();
    await sink.close();
    expect(readFileSync(path, "utf8")).toBe(
      `${"0".repeat(999)}\n${"1".repeat(999)}\n${"2".repeat(500)}\n` +
        "devflow: the transcript was cut at 2.4 KiB; 98 KiB more output was not kept\n",
    );
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it("adds nothing to output within its cap", async () => {
    const path = join(tempDir("sink"), "transcript.log");
    const sink = openTranscriptSink(path, { maxBytes: 16 * MIB });
    sink.write("one\n");
    sink.write(Buffer.from("two"));
    await sink.close();
    sink.write("after the end\n");
    expect(readFileSync(path, "utf8")).toBe("one\ntwo");
  });

  it("refuses a file or a link already at its path, and leaves what it points to alone", () => {
    const dir = tempDir("sink");
    const victim = join(dir, "victim.txt");
    writeFileSync(victim, "the host's file\n");
    symlinkSync(victim, join(dir, "link.log"));
    symlinkSync(join(dir, "nowhere"), join(dir, "dangling.log"));
    expect(() => openTranscriptSink(join(dir, "link.log"), { maxBytes: 100 })).toThrow(/EEXIST/);
    expect(() => openTranscriptSink(join(dir, "dangling.log"), { maxBytes: 100 })).toThrow(
      /EEXIST/,
    );
    expect(() => openTranscriptSink(victim, { maxBytes: 100 })).toThrow(/EEXIST/);
    expect(readFileSync(victim, "utf8")).toBe("the host's file\n");
    expect(() => statSync(join(dir, "nowhere"))).toThrow(/ENOENT/);
  });
});

describe("a transcript reader", () => {
  it("reads only what is new, and whole lines until the output is final", async () => {
    const path = join(tempDir("reader"), "transcript.log");
    writeFileSync(path, "one\ntwo\nthr");
    const reader = openTranscriptReader(path);
    expect(await reader.read(0)).toEqual([
      { seq: 1, text: "one\n" },
      { seq: 2, text: "two\n" },
    ]);
    expect(await reader.read(2)).toEqual([]);
    // What was read before is not read again: changing it shows only from the start.
    const fd = openSync(path, "r+");
    writeSync(fd, "ONE\n", 0, "utf8");
    closeSync(fd);
    appendFileSync(path, "ee\nfour");
    expect(await reader.read(2)).toEqual([{ seq: 3, text: "three\n" }]);
    expect(await reader.read(3, { final: true })).toEqual([{ seq: 4, text: "four" }]);
    expect(await reader.read(4, { final: true })).toEqual([]);
    expect(texts(await reader.read(1, { final: true }))).toEqual(["two\n", "three\n", "four"]);
    expect(texts(await reader.read(0))).toEqual(["ONE\n", "two\n", "three\n"]);
  });

  it("numbers chunks the same whoever reads, from wherever", async () => {
    const path = join(tempDir("reader"), "transcript.log");
    writeFileSync(path, Array.from({ length: 50 }, (_, i) => `line ${i + 1}\n`).join(""));
    expect(await openTranscriptReader(path).read(47)).toEqual([
      { seq: 48, text: "line 48\n" },
      { seq: 49, text: "line 49\n" },
      { seq: 50, text: "line 50\n" },
    ]);
  });

  it("returns at most maxBytes or maxChunks at a time, and goes on from there", async () => {
    const path = join(tempDir("reader"), "transcript.log");
    const lines = Array.from({ length: 1000 }, (_, i) => `${String(i + 1).padStart(9, "0")}\n`);
    writeFileSync(path, lines.join(""));
    const reader = openTranscriptReader(path);
    const first = await reader.read(0, { maxBytes: 95 });
    expect(texts(first)).toEqual(lines.slice(0, 9));
    const second = await reader.read(9, { maxChunks: 500 });
    expect(second.map((chunk) => chunk.seq)).toEqual(lines.slice(9, 509).map((_, i) => i + 10));
    expect(texts(await reader.read(509))).toEqual(lines.slice(509));
    // One chunk larger than the budget is still returned: a read always makes progress.
    expect(texts(await openTranscriptReader(path).read(0, { maxBytes: 1 }))).toEqual([lines[0]]);
  });

  it("splits a line longer than 64 KiB into pieces, none cutting a character", async () => {
    const path = join(tempDir("reader"), "transcript.log");
    // 3-byte characters after one ASCII byte: 64 KiB falls inside a character.
    const long = `a${"€".repeat(70_000)}`;
    writeFileSync(path, `${long}\nshort\n${"b".repeat(TRANSCRIPT_LINE_MAX + 10)}`);
    const reader = openTranscriptReader(path);
    const running = await reader.read(0);
    const pieces = texts(running);
    expect(pieces.slice(0, 4).join("")).toBe(`${long}\n`);
    expect(pieces.every((piece) => Buffer.byteLength(piece) <= TRANSCRIPT_LINE_MAX)).toBe(true);
    expect(pieces.join("")).not.toContain("\uFFFD");
    // The unfinished last line comes in whole pieces while it is written; its rest once final.
    expect(pieces.slice(4)).toEqual(["short\n", "b".repeat(TRANSCRIPT_LINE_MAX)]);
    expect(await reader.read(running.length, { final: true })).toEqual([
      { seq: running.length + 1, text: "b".repeat(10) },
    ]);
  });

  it("refuses a FIFO at once instead of waiting for a writer, and a link instead of following it", async () => {
    const dir = tempDir("reader");
    const fifo = join(dir, "fifo.log");
    execFileSync("mkfifo", [fifo]);
    await expect(openTranscriptReader(fifo).read(0)).rejects.toThrow(
      `the transcript ${fifo} is not a regular file`,
    );
    const secret = join(dir, "secret.txt");
    writeFileSync(secret, "the host's file\n");
    const link = join(dir, "link.log");
    symlinkSync(secret, link);
    await expect(openTranscriptReader(link).read(0, { final: true })).rejects.toThrow(
      `the transcript ${link} is a symbolic link`,
    );
    await expect(openTranscriptReader(dir).read(0)).rejects.toThrow("is not a regular file");
    await expect(openTranscriptReader(join(dir, "missing.log")).read(0)).rejects.toMatchObject({
      code: "ENOENT",
    });
  });

  it("reads a 768 MiB sparse file in bounded batches, in bounded memory", async () => {
    const path = join(tempDir("reader"), "transcript.log");
    writeFileSync(path, "the start\n");
    const fd = openSync(path, "r+");
    ftruncateSync(fd, 768 * MIB);
    closeSync(fd);
    appendFileSync(path, "\nthe end\n");
    const reader = openTranscriptReader(path);
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    let seq = 0;
    let bytes = 0;
    let first = "";
    let last = "";
    for (;;) {
      const chunks = await reader.read(seq, { maxBytes: 256 * 1024 });
      if (chunks.length === 0) break;
      if (seq === 0) first = chunks[0]?.text ?? "";
      for (const chunk of chunks) bytes += Buffer.byteLength(chunk.text);
      last = chunks.at(-1)?.text ?? "";
      seq = chunks.at(-1)?.seq ?? seq;
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    expect(first).toBe("the start\n");
    expect(last).toBe("the end\n");
    expect(bytes).toBe(768 * MIB + "\nthe end\n".length);
    // Read whole, the file alone would take 768 MiB; in batches, what grows is V8's heap,
    // sized for the rate the batches' strings come and go at.
    expect((peak - baseline) / MIB).toBeLessThan(128);
  }, 120_000);
});
