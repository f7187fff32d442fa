import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Db } from "../db/client.ts";
import type { Metrics } from "../observability/metrics.ts";
import { WEBHOOK_EVENTS } from "./handlers/index.ts";
import { createDeliveryRecorder, NotJson } from "./record-delivery.ts";

/** GitHub never sends a delivery over 25 MB; devflow reads no more than that. */
export const MAX_WEBHOOK_BYTES = 25 * 1024 * 1024;
/**
 * How long recording a delivery may take before devflow answers 503: GitHub waits
 * 10 s, and a delivery it counts as delivered must be one devflow has recorded.
 */
export const RECORD_DEADLINE_MS = 8_000;

/** Printable ASCII, at most 200 characters. */
const DELIVERY_ID = /^[\x21-\x7e]{1,200}$/;

const SUBSCRIBED = new Set(WEBHOOK_EVENTS.map((name) => name.split(".")[0]));

export interface WebhookEndpointOptions {
  path: string;
  secret: string;
  db: Db;
  log: Logger;
  metrics?: Metrics | undefined;
  /** Called after each new delivery is recorded: the dispatcher queues it. */
  onRecorded?: (() => void) | undefined;
}

class TooLarge extends Error {}

/** The body, read to its end but never past `limit` bytes (the request is cut off there). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        reject(new TooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.once("end", () => resolve(Buffer.concat(chunks)));
    req.once("error", reject);
  });
}

/** Whether `signature` (`sha256=<hex>`) is the body's HMAC under `secret`, in constant time. */
export function signedBy(secret: string, body: Buffer, signature: string | undefined): boolean {
  if (signature === undefined || !signature.startsWith("sha256=")) return false;
  const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(body).digest("hex")}`);
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function answer(res: ServerResponse, status: number, message: string, close = false): void {
  res.writeHead(status, {
    "content-type": "text/plain",
    ...(close ? { connection: "close" } : {}),
  });
  res.end(`${message}\n`);
}

/**
 * Refuses a body too large to read: the answer goes out, and the connection is
 * closed once it has, with nothing more read (closing at once could lose the answer).
 */
function refuseTooLarge(req: IncomingMessage, res: ServerResponse): void {
  res.once("finish", () => req.socket.end());
  answer(res, 413, `a delivery may have at most ${MAX_WEBHOOK_BYTES} bytes`, true);
}

/**
 * devflow's webhook endpoint (a Node handler; true when it answered): a body
 * larger than GitHub ever sends is refused by its Content-Length before anything
 * is read, or cut off the moment it passes the limit; the signature is checked
 * against the raw body; a verified delivery is recorded (together with those that
 * arrive beside it, in one statement: record-delivery.ts; the dispatcher queues
 * its job), and only then acknowledged — 200, or 503 when the database did not
 * answer in time (GitHub then lists it as failed, and the delivery reconciler asks
 * for it again). Nothing else happens in the request.
 */
export function createWebhookEndpoint(options: WebhookEndpointOptions) {
  const recorder = createDeliveryRecorder(options.db);
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const url = req.url?.split("?")[0];
    if (url !== options.path) return false;
    if (req.method !== "POST") {
      answer(res, 405, "devflow's webhook endpoint takes POST");
      return true;
    }
    const started = performance.now();
    let outcome: "queued" | "duplicate" | "failed" | "refused" = "refused";
    try {
      const declared = Number(req.headers["content-length"]);
      if (Number.isFinite(declared) && declared > MAX_WEBHOOK_BYTES) {
        refuseTooLarge(req, res);
        return true;
      }
      let body: Buffer;
      try {
        body = await readBody(req, MAX_WEBHOOK_BYTES);
      } catch (error) {
        if (!(error instanceof TooLarge)) throw error;
        req.pause();
        refuseTooLarge(req, res);
        return true;
      }
      const id = req.headers["x-github-delivery"];
      const event = req.headers["x-github-event"];
      if (typeof id !== "string" || id === "" || typeof event !== "string" || event === "") {
        answer(res, 400, "missing X-GitHub-Delivery or X-GitHub-Event");
        return true;
      }
      // GitHub's delivery ids are GUIDs. The header is not signed: a replayed body
      // with an id too long to index would fail every delivery recorded beside it.
      if (!DELIVERY_ID.test(id)) {
        answer(res, 400, "X-GitHub-Delivery is not a delivery id");
        return true;
      }
      const signature = req.headers["x-hub-signature-256"];
      if (!signedBy(options.secret, body, typeof signature === "string" ? signature : undefined)) {
        options.log.warn(
          { deliveryId: id, event },
          "refused a delivery whose signature does not verify",
        );
        answer(res, 401, "the signature does not match the body");
        return true;
      }
      if (!SUBSCRIBED.has(event)) {
        outcome = "duplicate";
        answer(res, 200, `devflow does not handle ${event}`);
        return true;
      }
      outcome = "failed";
      let recorded: { duplicate: boolean } | "late";
      let deadline: NodeJS.Timeout | undefined;
      try {
        recorded = await Promise.race([
          recorder.record({ id, event, body: body.toString("utf8") }),
          new Promise<"late">((resolve) => {
            deadline = setTimeout(resolve, RECORD_DEADLINE_MS, "late");
          }),
        ]);
      } catch (error) {
        if (!(error instanceof NotJson)) throw error;
        outcome = "refused";
        options.log.warn({ deliveryId: id, event }, "refused a delivery whose body is not JSON");
        answer(res, 400, "the body is not JSON");
        return true;
      } finally {
        clearTimeout(deadline);
      }
      if (recorded === "late") {
        options.log.error(
          { deliveryId: id, event },
          "the database did not record the delivery in time: 503",
        );
        answer(res, 503, "devflow could not record the delivery in time; it will be redelivered");
        return true;
      }
      outcome = recorded.duplicate ? "duplicate" : "queued";
      if (!recorded.duplicate) options.onRecorded?.();
      options.log.info(
        { deliveryId: id, event, duplicate: recorded.duplicate },
        recorded.duplicate ? "delivery seen before" : "delivery queued",
      );
      answer(res, 200, recorded.duplicate ? "seen before" : "queued");
      return true;
    } catch (error) {
      options.log.error({ err: error }, "could not record a delivery: 503");
      if (!res.headersSent)
        answer(res, 503, "devflow could not record the delivery; it will be redelivered");
      return true;
    } finally {
      options.metrics?.observeWebhook((performance.now() - started) / 1000, outcome);
    }
  };
}
