import { createServer } from "node:http";
import Bottleneck from "bottleneck";
import type { Logger } from "pino";
import { Probot, ProbotOctokit, run } from "probot";
import { createDevflowRoutes } from "../app.ts";
import type { Db } from "../db/client.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { RouteHandler } from "./route-handler.ts";

export interface GitHubAppCredentials {
  appId: number;
  privateKey: string;
  webhookSecret: string;
  baseUrl: string;
}

export interface StartGitHubServerOptions {
  credentials: GitHubAppCredentials | undefined;
  port: number;
  /** The address to listen on; every interface by default. */
  host?: string | undefined;
  db: Db;
  log: Logger;
  /** Serves GET /healthz and GET /metrics next to the webhooks. */
  ops?: RouteHandler | undefined;
  /** The web console under /console (needs the app's credentials: not served in setup mode). */
  console?: RouteHandler | undefined;
  metrics?: Metrics | undefined;
  /** Called after each new delivery is recorded: pass `devflow.dispatchDeliveries`. */
  onRecorded?: (() => void) | undefined;
}

export interface GitHubServer {
  /** The port it listens on (useful with port 0). */
  port: number;
  stop(): Promise<void>;
}

export const WEBHOOK_PATH = "/api/github/webhooks";

/** A Probot for the app's own use (API calls from jobs), configured like the server's. */
/**
 * Probot's Octokit keeps its rate-limit handling (it waits out a primary or
 * secondary limit GitHub reports) but not its pacing, which holds every write of
 * an installation a second (a comment or pull request three) behind the one
 * before: devflow paces writes itself (write-pacer.ts), a burst first and the
 * urgent ones ahead.
 */
const unpaced = (id: string) => new Bottleneck.Group({ id, maxConcurrent: 10 });
const write = unpaced("devflow-write");
const notifications = unpaced("devflow-notifications");

export function createProbot(credentials: GitHubAppCredentials, log: Logger): Probot {
  return new Probot({
    ...probotOptions(credentials),
    log,
    // The function form sees the options Probot built: a plain object would be merged
    // shallowly, and Probot's own throttle options would replace these.
    Octokit: ProbotOctokit.defaults(
      (options: ConstructorParameters<typeof ProbotOctokit>[0] = {}) => ({
        ...options,
        throttle: { ...options.throttle, write, notifications },
      }),
    ),
  });
}

function probotOptions(credentials: GitHubAppCredentials) {
  return {
    appId: credentials.appId,
    privateKey: credentials.privateKey,
    secret: credentials.webhookSecret,
    baseUrl: credentials.baseUrl,
  };
}

/**
 * The webhook server: devflow's own endpoint (webhook-endpoint.ts) verifies each
 * delivery against its raw body, within GitHub's size limit, and records it with
 * its job before answering; /healthz and /metrics beside it. Without app
 * credentials it serves Probot's setup page, where "Register GitHub App" creates
 * the app from app.yml and writes its credentials to .env; start devflow again
 * afterwards.
 */
export async function startGitHubServer(options: StartGitHubServerOptions): Promise<GitHubServer> {
  const { credentials, log } = options;
  if (credentials === undefined) {
    log.warn(
      { port: options.port },
      "no GitHub App is registered yet: open this server in a browser and follow the setup page",
    );
    // Probot refuses setup mode when NODE_ENV is production, reading process.env itself;
    // devflow serves the setup page whenever no app is registered (the app image sets
    // NODE_ENV=production), so it is development for this call only.
    const nodeEnv = process.env.NODE_ENV;
    process.env.NODE_ENV = "development";
    // Probot's own child, so that its second start (below) can be quiet.
    const probotLog = log.child({});
    const server = await run(() => {}, {
      env: { ...process.env, PORT: String(options.port) },
      log: probotLog,
    }).finally(() => {
      if (nodeEnv === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = nodeEnv;
    });
    if (options.ops !== undefined) {
      // Probot builds its handler list when it starts, and run() has started it: restart
      // it so /healthz and /metrics answer during setup too.
      server.addHandler(options.ops);
      // Probot says where it listens on each start, and it has said so once.
      probotLog.level = "warn";
      await server.stop();
      await server.start();
      probotLog.level = log.level;
    }
    return { port: server.port, stop: () => server.stop() };
  }
  const handlers = createDevflowRoutes({
    webhookPath: WEBHOOK_PATH,
    webhookSecret: credentials.webhookSecret,
    db: options.db,
    log,
    metrics: options.metrics,
    ops: options.ops,
    console: options.console,
    onRecorded: options.onRecorded,
  });
  const http = createServer((req, res) => {
    (async () => {
      for (const handler of handlers) if (await handler(req, res)) return;
      res.writeHead(404, { "content-type": "text/plain" }).end("devflow: not found\n");
    })().catch((error: unknown) => {
      log.error({ err: error }, "request failed");
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "EADDRINUSE"
          ? new Error(
              `port ${options.port} is already in use (another devflow, or another server): set PORT to a free one`,
            )
          : error,
      ),
    );
    http.listen({ port: options.port, host: options.host ?? "::" }, () => resolve());
  });
  const address = http.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;
  log.info(`Listening on ${listeningUrl(options.host, port)}`);
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}

/** Where the server answers, as Probot writes it: localhost for every interface. */
function listeningUrl(host: string | undefined, port: number): string {
  if (host === undefined || host === "::" || host === "0.0.0.0")
    return `http://localhost:${port} (every interface)`;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}
