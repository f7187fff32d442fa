import { lookup } from "node:dns/promises";
import { closeSync, constants, openSync } from "node:fs";
import { chmod, rm } from "node:fs/promises";
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { connect, isIP, type Socket } from "node:net";
import { basename, dirname } from "node:path";
import type { EgressDenialRecord } from "../../db/schema/index.ts";
import { type EgressPolicy, judge } from "../../security/egress-policy.ts";

/** A connection the proxy refused: where the agent wanted to go, and why not. */
export type EgressDenial = EgressDenialRecord;

export interface EgressProxy {
  /** The unix socket the sandbox's bridge connects to. */
  socketPath: string;
  /** What was refused so far (the first 100, each destination once). */
  denials(): EgressDenial[];
  close(): Promise<void>;
}

export interface StartEgressProxyOptions {
  socketPath: string;
  policy: EgressPolicy;
  /** Where refused connections are told, as they happen. */
  onDenied?: (denial: EgressDenial) => void;
}

const MAX_DENIALS = 100;
const CONNECT_TIMEOUT_MS = 15_000;

function hostAndPort(authority: string, defaultPort: number): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(authority);
  if (bracketed?.[1] !== undefined) {
    return { host: bracketed[1], port: Number(bracketed[2] ?? defaultPort) };
  }
  const at = authority.lastIndexOf(":");
  if (at > 0 && /^\d+$/.test(authority.slice(at + 1))) {
    return { host: authority.slice(0, at), port: Number(authority.slice(at + 1)) };
  }
  return { host: authority, port: defaultPort };
}

async function resolveAll(host: string): Promise<string[]> {
  if (isIP(host) !== 0) return [host];
  try {
    return (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);
  } catch {
    return [];
  }
}

/**
 * The only way out of a sandbox: an HTTP proxy on a unix socket that only the
 * sandbox's bridge can reach. It tunnels `CONNECT host:port` and forwards plain
 * `http://` requests, each only to a destination the policy allows — resolved
 * here, checked, and connected to by the checked address, so a name cannot be
 * re-pointed between the check and the connection. Everything else is answered
 * 403 with the reason, and remembered for the user to see.
 */
export async function startEgressProxy(options: StartEgressProxyOptions): Promise<EgressProxy> {
  const denials: EgressDenial[] = [];
  const seen = new Set<string>();
  const tunnels = new Set<Socket>();

  async function admit(
    host: string,
    port: number,
  ): Promise<{ address: string } | { refused: string }> {
    const addresses = await resolveAll(host);
    const verdict = judge(options.policy, host, port, addresses);
    if (verdict.allowed) return { address: addresses[0] as string };
    const key = `${host}:${port}`;
    if (!seen.has(key) && denials.length < MAX_DENIALS) {
      seen.add(key);
      const denial = { host, port, reason: verdict.reason, at: new Date().toISOString() };
      denials.push(denial);
      options.onDenied?.(denial);
    }
    return {
      refused: `devflow blocked ${key}: ${verdict.reason}. An operator can allow it with DEVFLOW_EGRESS_ALLOW.`,
    };
  }

  function onConnect(req: IncomingMessage, client: Socket, head: Buffer): void {
    tunnels.add(client);
    client.once("close", () => tunnels.delete(client));
    client.on("error", () => client.destroy());
    const { host, port } = hostAndPort(req.url ?? "", 443);
    admit(host, port).then(
      (decision) => {
        if ("refused" in decision) {
          client.end(
            `HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(decision.refused)}\r\n\r\n${decision.refused}`,
          );
          return;
        }
        const upstream = connect({ host: decision.address, port, timeout: CONNECT_TIMEOUT_MS });
        upstream.once("connect", () => {
          upstream.setTimeout(0);
          client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
          if (head.length > 0) upstream.write(head);
          upstream.pipe(client);
          client.pipe(upstream);
        });
        const fail = () => {
          if (!client.destroyed)
            client.end("HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\n");
          upstream.destroy();
        };
        upstream.once("timeout", fail);
        upstream.once("error", fail);
        client.once("close", () => upstream.destroy());
      },
      () => client.destroy(),
    );
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    let target: URL;
    try {
      target = new URL(req.url ?? "");
    } catch {
      res
        .writeHead(400, { "content-type": "text/plain" })
        .end("devflow: a proxy request needs an absolute http:// URL\n");
      return;
    }
    if (target.protocol !== "http:") {
      res
        .writeHead(400, { "content-type": "text/plain" })
        .end("devflow: only http:// is forwarded; use CONNECT for https\n");
      return;
    }
    const host = target.hostname.replace(/^\[|\]$/g, "");
    const port = target.port === "" ? 80 : Number(target.port);
    admit(host, port).then(
      (decision) => {
        if ("refused" in decision) {
          res.writeHead(403, { "content-type": "text/plain" }).end(`${decision.refused}\n`);
          return;
        }
        const headers = { ...req.headers };
        delete headers["proxy-authorization"];
        delete headers["proxy-connection"];
        const upstream = httpRequest({
          host: decision.address,
          port,
          method: req.method,
          path: `${target.pathname}${target.search}`,
          headers,
          timeout: CONNECT_TIMEOUT_MS,
        });
        upstream.once("response", (answer) => {
          upstream.setTimeout(0);
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        const fail = () => {
          if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
          res.end();
          upstream.destroy();
        };
        upstream.once("timeout", fail);
        upstream.once("error", fail);
        req.pipe(upstream);
      },
      () => res.destroy(),
    );
  }

  const server: Server = createServer(onRequest);
  server.on("connect", onConnect);
  server.on("clientError", (_error, socket) => socket.destroy());
  await rm(options.socketPath, { force: true });
  // A unix socket's path may be at most 107 bytes, and the execution's directory can
  // be longer than that (a data directory of 50 characters is). The socket is made
  // through the directory's descriptor instead — /proc/self/fd/N/proxy.sock, short
  // whatever the directory's path — which is held open until the socket is closed,
  // so the name libuv removes at close still means this directory.
  const directory = openSync(
    dirname(options.socketPath),
    constants.O_RDONLY | constants.O_DIRECTORY,
  );
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(`/proc/self/fd/${directory}/${basename(options.socketPath)}`, () => resolve());
    });
    // The sandbox's user is not devflow's: it must be able to connect.
    await chmod(options.socketPath, 0o666);
  } catch (error) {
    server.close();
    closeSync(directory);
    throw error;
  }
  return {
    socketPath: options.socketPath,
    denials: () => [...denials],
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          closeSync(directory);
          resolve();
        });
        server.closeAllConnections();
        for (const socket of tunnels) socket.destroy();
        rm(options.socketPath, { force: true }).catch(() => undefined);
      }),
  };
}
