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
    const firsts = answers.slice(0, ids.length);
    const copies = answers.slice(ids.length);
    expect(firsts.filter((answer) => !answer.duplicate)).toHaveLength(ids.length);
    expect(copies.every((answer) => answer.duplicate)).toBe(true);
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
