import type { EmitterWebhookEvent, EmitterWebhookEventName } from "@octokit/webhooks";
import type { Logger } from "pino";
import type { Db } from "../../db/client.ts";
import type { Engine } from "../../engine/create-engine.ts";
import type { Registry } from "../../registry/types.ts";
import type { GitHubAccess } from "../github-access.ts";
import type { Reply } from "../reply.ts";

/** What every delivery handler gets: the delivery, and the ways to act on it. */
export interface DeliveryContext<E extends EmitterWebhookEventName = EmitterWebhookEventName> {
  deliveryId: string;
  payload: EmitterWebhookEvent<E>["payload"];
  /** For what a handler records beside the engine (a claimed reaction). */
  db: Db;
  engine: Engine;
  github: GitHubAccess;
  registry: Registry;
  log: Logger;
  /** The agent for repositories whose config names none (DEVFLOW_AGENT). */
  defaultAgent: string | undefined;
  /** Answers a person; never twice for one delivery, retries included. */
  reply: Reply;
}

/** What happened, in a few words, recorded on the delivery (`started run`, `ignored: …`). */
export interface DeliveryOutcome {
  outcome: string;
  runId?: string;
}

export type DeliveryHandler<E extends EmitterWebhookEventName> = (
  context: DeliveryContext<E>,
) => Promise<DeliveryOutcome>;
