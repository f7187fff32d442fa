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

/** The app's credentials as devflow reads them, with a fresh key, against github.com's API. */
export function appCredentials(): {
  appId: number;
  privateKey: string;
  webhookSecret: string;
  baseUrl: string;
} {
  return {
    appId: APP_ID,
    privateKey: appPrivateKey(),
    webhookSecret: WEBHOOK_SECRET,
    baseUrl: API,
  };
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

/** A documented `issues.labeled` payload for `issue` of `repository`, cloned from `cloneUrl`. */
export function labeledPayload(options: {
  issue: number;
  repository: string;
  cloneUrl: string;
  sender?: string;
  label?: string;
  body?: string;
}) {
  const { issue, repository, cloneUrl, sender = "alice", label = "devflow" } = options;
  const payload = example("issues", "labeled");
  payload.label = { ...payload.label, name: label };
  payload.issue = {
    ...payload.issue,
    number: issue,
    title: `Widget ${issue}`,
    body: options.body ?? "Please add a widget.",
  };
  payload.repository = {
    ...payload.repository,
    id: 77,
    full_name: repository,
    name: repository.split("/")[1],
    owner: { ...payload.repository.owner, login: repository.split("/")[0] },
    default_branch: "main",
    clone_url: cloneUrl,
  };
  payload.sender = {
    ...payload.sender,
    login: sender,
    type: sender.endsWith("[bot]") ? "Bot" : "User",
  };
  payload.installation = { id: INSTALLATION_ID, node_id: "x" };
  return payload;
}

/** A documented `pull_request_review.submitted` payload: `user`'s review `id` of `pullRequest`. */
export function reviewPayload(options: {
  repository: string;
  pullRequest: number;
  id: number;
  state: string;
  body: string;
  user: string;
}) {
  const payload = example("pull_request_review", "submitted");
  payload.review = {
    ...payload.review,
    id: options.id,
    state: options.state,
    body: options.body,
    user: { ...payload.review.user, login: options.user, type: "User" },
  };
  payload.pull_request = { ...payload.pull_request, number: options.pullRequest };
  payload.repository = {
    ...payload.repository,
    full_name: options.repository,
    default_branch: "main",
  };
  payload.installation = { id: INSTALLATION_ID, node_id: "x" };
  return payload;
}

/** A documented `check_run.requested_action` payload: `sender` pressed `action` on the check run `externalId`. */
export function gateClickPayload(options: {
  repository: string;
  externalId: string;
  action?: string;
  sender?: string;
}) {
  const payload = example("check_run", "requested_action");
  payload.check_run = { ...payload.check_run, external_id: options.externalId };
  payload.requested_action = { identifier: options.action ?? "approve" };
  payload.repository = {
    ...payload.repository,
    full_name: options.repository,
    default_branch: "main",
  };
  payload.sender = { ...payload.sender, login: options.sender ?? "alice", type: "User" };
  payload.installation = { id: INSTALLATION_ID, node_id: "x" };
  return payload;
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
  options: { id?: string; secret?: string | null; url?: string; rawBody?: string } = {},
): Promise<SentDelivery> {
  const id = options.id ?? randomUUID();
  const body = options.rawBody ?? JSON.stringify(payload);
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
  const response = await fetch(options.url ?? `http://127.0.0.1:${port}/api/github/webhooks`, {
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
