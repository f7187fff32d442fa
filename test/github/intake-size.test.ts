import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { type DevflowProcess, spawnDevflow, waitForHealthy } from "../helpers/cli-process.ts";
import { tempDir } from "../helpers/git-fixtures.ts";
import { APP_ID, appPrivateKey, freePort, WEBHOOK_SECRET } from "../helpers/github-fixtures.ts";
import { createTestDatabase } from "../helpers/test-database.ts";

// No nock in this file: its socket interception holds a request until it is whole,
// and this test sends one that never is.
const MB = 1024 * 1024;

/** Peak resident memory of a process since its counter was last reset (kB → bytes). */
function peakMemory(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/**
 * Declares a `size`-byte body and sends it, over a plain socket (no HTTP client
 * that waits to send it whole): all of it, chunked, without a Content-Length; or
 * none of it with one, so devflow must answer on the headers alone. Resolves to
 * the status, or -1 when devflow cut the connection before its answer was read.
 */
function postBytes(port: number, size: number, declared: boolean): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    let answer = "";
    let settled = false;
    const settle = (status: number) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(status);
    };
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString("latin1");
      const status = /^HTTP\/1\.1 (\d+)/.exec(answer)?.[1];
      if (status !== undefined) settle(Number(status));
    });
    socket.on("error", () => settle(-1));
    socket.on("close", () => settle(-1));
    socket.once("connect", () => {
      const head = [
        "POST /api/github/webhooks HTTP/1.1",
        `host: 127.0.0.1:${port}`,
        "content-type: application/json",
        "x-github-event: issues",
        `x-github-delivery: big-${declared}`,
        declared ? `content-length: ${size}` : "transfer-encoding: chunked",
      ];
      socket.write(`${head.join("\r\n")}\r\n\r\n`);
      if (declared) return;
      const chunk = Buffer.alloc(MB, 0x20);
      let sent = 0;
      const write = () => {
        while (sent < size && !settled) {
          sent += chunk.length;
          socket.write(`${chunk.length.toString(16)}\r\n`);
          socket.write(chunk);
          if (!socket.write("\r\n")) {
            socket.once("drain", write);
            return;
          }
        }
        if (!settled) socket.write("0\r\n\r\n");
      };
      write();
    });
  });
}

describe("webhook intake: GitHub's size limit", () => {
  let devflow: DevflowProcess | undefined;
  afterAll(async () => {
    await devflow?.kill();
  });

  it("refuses a 30 MB delivery without buffering it whole: by its Content-Length before reading, or cut off at 25 MB", async () => {
    const port = await freePort();
    devflow = spawnDevflow(["start"], {
      DATABASE_URL: await createTestDatabase(),
      PORT: String(port),
      DEVFLOW_DATA_DIR: tempDir("intake"),
      APP_ID: String(APP_ID),
      PRIVATE_KEY: appPrivateKey(),
      WEBHOOK_SECRET,
      GHE_HOST: "127.0.0.1:9",
      GHE_PROTOCOL: "http",
      DEVFLOW_WORKER_CONCURRENCY: "0",
    });
    await waitForHealthy(port, devflow);
    const pid = devflow.child.pid ?? 0;
    // Reset the peak-memory counter, then send 30 MB declared up front.
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    const before = peakMemory(pid);
    expect(await postBytes(port, 30 * MB, true)).toBe(413);
    const declaredGrowth = peakMemory(pid) - before;
    expect(declaredGrowth).toBeLessThan(8 * MB);
    // The same 30 MB streamed without a length: read up to the limit, no further (the
    // 413 may reach the sender or its connection is cut: either way, nothing more is read).
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    const again = peakMemory(pid);
    expect([413, -1]).toContain(await postBytes(port, 30 * MB, false));
    expect(peakMemory(pid) - again).toBeLessThan(30 * MB);
    // Still serving.
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  }, 120_000);
});
