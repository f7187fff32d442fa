import { createHmac, generateKeyPairSync, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";

export const WEBHOOK_SECRET = "devflow-test-webhook-secret";
export const APP_ID = 4242;
export const INSTALLATION_ID = 1001;
export const API = "https://api.github.com";

/** A throwaway RSA key for the app, made per test run. */
export function appPrivateKey(): string {
  return generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs1", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  }).privateKey;
}

interface ExampleGroup {
  name: string;
  examples: Record<string, unknown>[];
}

/** The webhook payload examples GitHub documents, from @octokit/webhooks-examples. */
export function webhookExamples(): ExampleGroup[] {
  const path = createRequire(import.meta.url).resolve("@octokit/webhooks-examples");
  return JSON.parse(readFileSync(path, "utf8")) as ExampleGroup[];
}

/** The first documented example of `event` with `action`, deep-copied for a test to change. */
// biome-ignore lint/suspicious/noExplicitAny: a test edits these documented payloads freely, field by field.
export function example(event: string, action?: string): Record<string, any> {
  const group = webhookExamples().find((candidate) => candidate.name === event);
  const found = group?.examples.find(
    (candidate) => action === undefined || candidate.action === action,
  );
  if (found === undefined) throw new Error(`no example for ${event}.${action}`);
  // biome-ignore lint/suspicious/noExplicitAny: as above.
  return structuredClone(found) as Record<string, any>;
}

export interface SentDelivery {
  id: string;
  status: number;
}

/** Sends a webhook the way GitHub does: JSON body, event and delivery headers, HMAC-SHA256 signature. */
export async function sendWebhook(
  port: number,
  event: string,
  payload: unknown,
  options: { id?: string; secret?: string | null } = {},
): Promise<SentDelivery> {
  const id = options.id ?? randomUUID();
  const body = JSON.stringify(payload);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "x-github-event": event,
    "x-github-delivery": id,
    "user-agent": "GitHub-Hookshot/test",
  };
  const secret = options.secret === undefined ? WEBHOOK_SECRET : options.secret;
  if (secret !== null)
    headers["x-hub-signature-256"] =
      `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
  const response = await fetch(`http://127.0.0.1:${port}/api/github/webhooks`, {
    method: "POST",
    headers,
    body,
  });
  await response.arrayBuffer();
  return { id, status: response.status };
}

/** A port nothing listens on now (Probot's Server reads port 0 as "use 3000"). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}
