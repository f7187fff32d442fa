import { spawn } from "node:child_process";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { dirname, relative } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** A bare repository served over real HTTP, as GitHub serves one: git's own http-backend. */
export interface GitHttpServer {
  /** The repository's clone URL. */
  url: string;
  /** The Authorization header of every request, in order ("" when none). */
  authorizations: string[];
  /** Makes every push (receive-pack) wait this long before git sees it. */
  delayPushMs: number;
  /** Pushes that arrived (counted before any delay). */
  readonly pushes: number;
  close(): Promise<void>;
}

/**
 * Serves the bare repository `bare` at `http://127.0.0.1:<port>/<name>.git`
 * through `git http-backend` (CGI), pushes included.
 */
export async function serveGitOverHttp(bare: string): Promise<GitHttpServer> {
  const root = dirname(bare);
  const name = relative(root, bare);
  const state = { authorizations: [] as string[], delayPushMs: 0, pushes: 0 };
  const server: Server = createServer((req: IncomingMessage, res) => {
    state.authorizations.push(String(req.headers.authorization ?? ""));
    const url = new URL(req.url ?? "/", "http://git.test");
    const pushing = url.pathname.endsWith("git-receive-pack");
    const run = async () => {
      if (pushing && req.method === "POST") state.pushes += 1;
      if (pushing && req.method === "POST" && state.delayPushMs > 0) await sleep(state.delayPushMs);
      const cgi = spawn("git", ["http-backend"], {
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          GIT_PROJECT_ROOT: root,
          GIT_HTTP_EXPORT_ALL: "1",
          GIT_CONFIG_COUNT: "1",
          GIT_CONFIG_KEY_0: "http.receivepack",
          GIT_CONFIG_VALUE_0: "true",
          REQUEST_METHOD: req.method ?? "GET",
          PATH_INFO: url.pathname,
          QUERY_STRING: url.search.slice(1),
          CONTENT_TYPE: String(req.headers["content-type"] ?? ""),
          REMOTE_USER: "devflow",
          REMOTE_ADDR: "127.0.0.1",
          ...(req.headers["content-encoding"] === undefined
            ? {}
            : { HTTP_CONTENT_ENCODING: String(req.headers["content-encoding"]) }),
          ...(req.headers["git-protocol"] === undefined
            ? {}
            : { GIT_PROTOCOL: String(req.headers["git-protocol"]) }),
        },
      });
      req.pipe(cgi.stdin);
      let head = Buffer.alloc(0);
      let headersDone = false;
      cgi.stdout.on("data", (chunk: Buffer) => {
        if (headersDone) {
          res.write(chunk);
          return;
        }
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf("\r\n\r\n");
        if (end === -1) return;
        headersDone = true;
        let status = 200;
        for (const line of head.subarray(0, end).toString("latin1").split("\r\n")) {
          const [key, ...value] = line.split(":");
          if (key === undefined) continue;
          if (key.toLowerCase() === "status") status = Number.parseInt(value.join(":").trim(), 10);
          else res.setHeader(key, value.join(":").trim());
        }
        res.writeHead(status);
        res.write(head.subarray(end + 4));
      });
      cgi.stdout.on("end", () => res.end());
      cgi.on("error", () => res.writeHead(500).end());
    };
    run().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/${name}`,
    get authorizations() {
      return state.authorizations;
    },
    get pushes() {
      return state.pushes;
    },
    get delayPushMs() {
      return state.delayPushMs;
    },
    set delayPushMs(ms: number) {
      state.delayPushMs = ms;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
