import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { asc, eq } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, type Database } from "../../src/db/client.ts";
import { deliveryInbox, webhookDeliveries } from "../../src/db/schema/index.ts";
import { createDeliveryRecorder } from "../../src/github/record-delivery.ts";
import { createWebhookEndpoint } from "../../src/github/webhook-endpoint.ts";
import {
  INSTALLATION_ID,
  labeledPayload,
  sendWebhook,
  WEBHOOK_SECRET,
} from "../helpers/github-fixtures.ts";
import { createTestDatabase } from "../helpers/test-database.ts";

const log = pino({ level: process.env.DEVFLOW_TEST_LOG ?? "silent" });
const PATH = "/api/github/webhooks";

let database: Database;
let server: Server;
let port: number;
/** How many recording statements reached PostgreSQL. */
let statements = 0;

beforeAll(async () => {
  database = createDatabase({ url: await createTestDatabase(), max: 10 });
  const query = database.pool.query.bind(database.pool);
  database.pool.query = ((...args: Parameters<typeof query>) => {
    const [first] = args as unknown as [{ name?: string } | string];
    if (typeof first === "object" && first.name === "devflow_record_deliveries") statements += 1;
    return query(...args);
  }) as typeof query;
  const endpoint = createWebhookEndpoint({
    path: PATH,
    secret: WEBHOOK_SECRET,
    db: database.db,
    log,
  });
  server = createServer((req, res) => {
    void endpoint(req, res).then((answered) => {
      if (!answered) res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await database?.close();
});

const delivery = (id: string) => ({
  id,
  event: "issues",
  body: JSON.stringify(labeledPayload({ issue: 1, repository: "octo/burst", cloneUrl: "x" })),
});

describe("recording deliveries", () => {
  it("a burst, with copies of the same ids among it, takes a few statements: each id recorded and queued once, every copy answered as seen before", async () => {
    const before = statements;
    const ids = Array.from({ length: 30 }, (_, n) => `burst-${n}`);
    const recorder = createDeliveryRecorder(database.db);
    // Each id twice, all at once, as GitHub's retries and a redelivery could.
    const answers = await Promise.all([...ids, ...ids].map((id) => recorder.record(delivery(id))));
    // For each id, one of its two copies recorded it and the other was told it was
    // seen before (which one is the race between the two statements that held them).
    ids.forEach((_, n) => {
      const pair = [answers[n]?.duplicate, answers[n + ids.length]?.duplicate];
      expect(pair.sort()).toEqual([false, true]);
    });
    // 60 deliveries; recorded one statement at a time they would take 60.
    expect(statements - before).toBeGreaterThan(0);
    expect(statements - before).toBeLessThanOrEqual(6);
    const inbox = await database.db.select().from(deliveryInbox).orderBy(asc(deliveryInbox.seq));
    const inboxed = inbox.map((row) => row.deliveryId).filter((id) => id.startsWith("burst-"));
    // Each once; deliveries that arrive together have no order among them.
    expect([...inboxed].sort()).toEqual([...ids].sort());
    // Once recorded, a later copy changes nothing.
    expect(await recorder.record(delivery("burst-3"))).toEqual({ duplicate: true });
    expect(await database.db.$count(deliveryInbox, eq(deliveryInbox.deliveryId, "burst-3"))).toBe(
      1,
    );
  });

  it("a delivery the database refuses fails alone: the others recorded beside it are recorded", async () => {
    const recorder = createDeliveryRecorder(database.db);
    // Two statements in flight; the rest wait and go together in one.
    const busy = [recorder.record(delivery("alone-1")), recorder.record(delivery("alone-2"))];
    // An id too long for the primary key's index: PostgreSQL refuses that row.
    const refused = recorder.record(delivery(`long-${randomBytes(10_000).toString("hex")}`));
    const fine = ["beside-1", "beside-2", "beside-3"].map((id) => recorder.record(delivery(id)));
    await Promise.all(busy);
    await expect(refused).rejects.toThrow();
    expect(await Promise.all(fine)).toEqual([
      { duplicate: false },
      { duplicate: false },
      { duplicate: false },
    ]);
  });

  it("statements holding the same ids in opposite orders (two processes, say) wait for each other instead of deadlocking", async () => {
    const before = statements;
    const rounds = 12;
    for (let round = 0; round < rounds; round += 1) {
      const one = createDeliveryRecorder(database.db);
      const other = createDeliveryRecorder(database.db);
      const [a, b, c] = ["a", "b", "c"].map((name) => `order-${round}-${name}`) as [
        string,
        string,
        string,
      ];
      // Each recorder's first two go alone; the next three share a statement.
      const answers = await Promise.all([
        ...[`${a}-1`, `${a}-2`, a, b, c].map((id) => one.record(delivery(id))),
        ...[`${c}-1`, `${c}-2`, c, b, a].map((id) => other.record(delivery(id))),
      ]);
      // Every copy answered, each id recorded by exactly one of them.
      for (const id of [a, b, c]) {
        const [first, second] = [
          answers[[a, b, c].indexOf(id) + 2],
          answers[[c, b, a].indexOf(id) + 7],
        ];
        expect([first?.duplicate, second?.duplicate].sort()).toEqual([false, true]);
      }
    }
    // Three statements a recorder a round: its first two deliveries alone, the other
    // three together. A statement PostgreSQL aborted (a deadlock, 40P01) would have
    // been tried again one delivery at a time: more statements.
    expect(statements - before).toBe(rounds * 6);
  });

  it("keeps a body exactly as it was signed, with the fields the processing job looks up", async () => {
    const payload = labeledPayload({ issue: 7, repository: "octo/exact", cloneUrl: "x" });
    // Key order, spacing and escapes as a sender chose them; a NUL written as \u0000.
    const rawBody = `{ "action":"labeled",\n\t"installation": {"id": ${INSTALLATION_ID}},  "repository": ${JSON.stringify(payload.repository)}, "issue": {"title": "nul \\u0000 here", "number": 7} }`;
    const sent = await sendWebhook(port, "issues", null, { rawBody });
    expect(sent.status).toBe(200);
    const [row] = await database.db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.id, sent.id));
    expect(row).toMatchObject({
      body: rawBody,
      payload: null,
      event: "issues",
      action: "labeled",
      installationId: INSTALLATION_ID,
      repository: "octo/exact",
      outcome: "received",
    });
  });

  it("refuses a delivery id that is not one (the header is not signed): too long, or not printable", async () => {
    const body = JSON.stringify(
      labeledPayload({ issue: 8, repository: "octo/ids", cloneUrl: "x" }),
    );
    for (const id of ["x".repeat(201), "has space"]) {
      const sent = await sendWebhook(port, "issues", null, { rawBody: body, id });
      expect(sent.status).toBe(400);
    }
    expect((await sendWebhook(port, "issues", null, { rawBody: body })).status).toBe(200);
  });

  it("refuses a signed body that is not JSON, a raw NUL included, and records nothing of it", async () => {
    for (const rawBody of ['{"action": "lab', '{"action": "a\u0000b"}', ""]) {
      const sent = await sendWebhook(port, "issues", null, { rawBody });
      expect(sent.status).toBe(400);
      expect(await database.db.$count(webhookDeliveries, eq(webhookDeliveries.id, sent.id))).toBe(
        0,
      );
    }
  });
});
