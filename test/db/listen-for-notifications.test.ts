import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Listening, listenForNotifications } from "../../src/db/listen-for-notifications.ts";
import { tcpProxy } from "../helpers/tcp-proxy.ts";
import { createTestDatabase } from "../helpers/test-database.ts";

let url: string;
let admin: pg.Client;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  url = await createTestDatabase();
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(() => admin?.end());

async function until(what: string, probe: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(20);
  }
}

function listen(channel: string, at = url) {
  const heard: string[] = [];
  const lost: Error[] = [];
  let subscriptions = 0;
  const listening = listenForNotifications({
    url: at,
    channel,
    onNotification: (payload) => heard.push(payload),
    onSubscribed: () => {
      subscriptions += 1;
    },
    onLost: (error) => lost.push(error),
  });
  return {
    heard,
    lost,
    subscriptions: () => subscriptions,
    listening: listening.then((handle: Listening) => {
      cleanups.push(() => handle.close());
      return handle;
    }),
  };
}

/** Terminates the backend that listens on `channel` (its last statement was the LISTEN). */
async function terminateListener(channel: string): Promise<number> {
  const { rows } = await admin.query<{ terminated: boolean }>(
    "select pg_terminate_backend(pid) as terminated from pg_stat_activity where datname = current_database() and query = $1",
    [`LISTEN "${channel}"`],
  );
  return rows.filter((row) => row.terminated).length;
}

describe("the job notifications' own connection", () => {
  it("hears NOTIFY, and after PostgreSQL terminates its connection listens again on a new one", async () => {
    const channel = "devflow_test_jobs";
    const subject = listen(channel);
    await subject.listening;
    expect(subject.subscriptions()).toBe(1);
    await admin.query("select pg_notify($1, 'first')", [channel]);
    await until("the first notification", () => subject.heard.includes("first"));

    expect(await terminateListener(channel)).toBe(1);
    await until("the loss to be seen", () => subject.lost.length === 1);
    expect(subject.lost[0]?.message).toMatch(/terminating connection|ended/);
    await until("a second subscription", () => subject.subscriptions() === 2);
    await admin.query("select pg_notify($1, 'second')", [channel]);
    await until("the second notification", () => subject.heard.includes("second"));
  });

  it("finds a connection that went silent (nothing answers, nothing closes) and listens again once it can", async () => {
    const direct = new URL(url);
    const proxy = await tcpProxy({ host: direct.hostname, port: Number(direct.port) });
    cleanups.push(() => proxy.close());
    const proxied = new URL(url);
    proxied.port = String(proxy.port);
    const channel = "devflow_test_silent";
    const subject = listen(channel, proxied.toString());
    await subject.listening;
    proxy.freeze();
    // The heartbeat (every 10 s, 5 s to answer) finds it.
    await until("the silent connection to be found", () => subject.lost.length > 0, 20_000);
    await proxy.restore();
    await until("a new subscription", () => subject.subscriptions() === 2, 20_000);
    await admin.query("select pg_notify($1, 'after')", [channel]);
    await until("the notification after", () => subject.heard.includes("after"));
  }, 60_000);

  it("closes without an unhandled error while PostgreSQL terminates its connection", async () => {
    const channel = "devflow_test_closing";
    const subject = listen(channel);
    const handle = await subject.listening;
    // The termination and the close cross: the server's FATAL reaches a connection being ended.
    const terminated = terminateListener(channel);
    await handle.close();
    expect(await terminated).toBeLessThanOrEqual(1);
    // Nothing is renewed once closed.
    await sleep(1_500);
    expect(subject.subscriptions()).toBe(1);
  });

  it("rejects when the first subscription cannot be made", async () => {
    const unreachable = new URL(url);
    unreachable.port = "1";
    await expect(
      listenForNotifications({
        url: unreachable.toString(),
        channel: "nowhere",
        onNotification: () => {},
        onSubscribed: () => {},
        onLost: () => {},
      }),
    ).rejects.toThrow();
  });
});
