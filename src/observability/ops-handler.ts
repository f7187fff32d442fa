import type { IncomingMessage, ServerResponse } from "node:http";
import type pg from "pg";
import type { Metrics } from "./metrics.ts";

export interface OpsHandlerOptions {
  pool: pg.Pool;
  metrics: Metrics;
}

/** How long one health probe may take before it counts as down. */
const PROBE_TIMEOUT_MS = 3000;

async function probe(pool: pg.Pool, query: string): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      pool.query(query),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer in ${PROBE_TIMEOUT_MS} ms`)),
          PROBE_TIMEOUT_MS,
        );
      }),
    ]);
    return "ok";
  } catch (error) {
    return (error as Error).message;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * GET /healthz and GET /metrics, for the webhook server and for workers alike.
 * /healthz answers 200 when the database and the job queue's tables answer, 503
 * with what failed otherwise. Returns false for any other request, so a server
 * can pass it on.
 */
export function createOpsHandler({ pool, metrics }: OpsHandlerOptions) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const path = (req.url ?? "").split("?")[0];
    if (req.method !== "GET" || (path !== "/healthz" && path !== "/metrics")) return false;
    if (path === "/healthz") {
      const [database, queue] = await Promise.all([
        probe(pool, "select 1"),
        probe(pool, "select version from pgboss.version"),
      ]);
      const healthy = database === "ok" && queue === "ok";
      res.writeHead(healthy ? 200 : 503, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: healthy ? "ok" : "unavailable", database, queue }));
      return true;
    }
    try {
      const text = await metrics.render(pool);
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
      res.end(text);
    } catch (error) {
      res.writeHead(503, { "content-type": "text/plain; charset=utf-8" });
      res.end(`# metrics unavailable: ${(error as Error).message}\n`);
    }
    return true;
  };
}
