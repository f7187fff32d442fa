import type { Logger } from "pino";
import type { Db } from "./db/client.ts";
import type { RouteHandler } from "./github/route-handler.ts";
import { createWebhookEndpoint } from "./github/webhook-endpoint.ts";
import type { Metrics } from "./observability/metrics.ts";

/**
 * devflow's HTTP surface, in the order requests try it: the webhook endpoint
 * (every event devflow subscribes to is recorded there, queued by the delivery
 * dispatcher and processed by the `webhook-process` job, src/github/handlers/), then /healthz and /metrics,
 * then the web console under /console (src/console/).
 */
export function createDevflowRoutes(options: {
  webhookPath: string;
  webhookSecret: string;
  db: Db;
  log: Logger;
  metrics?: Metrics | undefined;
  ops?: RouteHandler | undefined;
  console?: RouteHandler | undefined;
  /** Called after each new delivery is recorded (wakes this process's delivery dispatcher). */
  onRecorded?: (() => void) | undefined;
}): RouteHandler[] {
  return [
    createWebhookEndpoint({
      path: options.webhookPath,
      secret: options.webhookSecret,
      db: options.db,
      log: options.log,
      metrics: options.metrics,
      onRecorded: options.onRecorded,
    }),
    ...(options.ops === undefined ? [] : [options.ops]),
    ...(options.console === undefined ? [] : [options.console]),
  ];
}
