import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";

export type Permission = "admin" | "write" | "read";

/** A person who can sign in, and what they may do on each repository. */
export interface FakeUser {
  id: number;
  repositories: Record<string, Permission>;
}

export interface FakeGitHubOAuth {
  /** The REST base URL for devflow's settings (`<url>/api/v3`, as GitHub Enterprise). */
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  users: Record<string, FakeUser>;
  /** Who GitHub's authorize page signs in next (the person at the browser). */
  signInAs: string;
  /** Every request, as `METHOD /path`. */
  calls: string[];
  close(): Promise<void>;
}

/**
 * GitHub's side of signing in, as a real HTTP server on loopback: the authorize
 * page (which signs `signInAs` in at once and redirects back with a code), the code
 * exchange, and the REST calls the console makes with the person's token — who
 * they are, whether they can read a repository (404 when not, as GitHub), their
 * permission (403 without push access, as GitHub) and the repository's config (none).
 */
export async function startFakeGitHubOAuth(
  users: Record<string, FakeUser>,
): Promise<FakeGitHubOAuth> {
  const clientId = "Iv1.devflowconsoletest";
  const clientSecret = randomBytes(20).toString("hex");
  const codes = new Map<string, { login: string; redirectUri: string }>();
  const tokens = new Map<string, string>();
  const state = { signInAs: "", calls: [] as string[] };
  const server: Server = createServer(async (req, res) => {
    let raw = "";
    for await (const chunk of req) raw += chunk;
    const url = new URL(req.url ?? "/", "http://github.test");
    state.calls.push(`${req.method} ${url.pathname}`);
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (req.method === "GET" && url.pathname === "/login/oauth/authorize") {
      const redirectUri = url.searchParams.get("redirect_uri") ?? "";
      if (url.searchParams.get("client_id") !== clientId || redirectUri === "") {
        res.writeHead(400).end("bad client_id or redirect_uri");
        return;
      }
      const code = randomBytes(10).toString("hex");
      codes.set(code, { login: state.signInAs, redirectUri });
      const back = new URL(redirectUri);
      back.searchParams.set("code", code);
      back.searchParams.set("state", url.searchParams.get("state") ?? "");
      res.writeHead(302, { location: back.toString() }).end();
      return;
    }
    if (req.method === "POST" && url.pathname === "/login/oauth/access_token") {
      const body = (
        req.headers["content-type"]?.includes("json")
          ? JSON.parse(raw)
          : Object.fromEntries(new URLSearchParams(raw))
      ) as Record<string, string>;
      const grant = codes.get(body.code ?? "");
      codes.delete(body.code ?? "");
      if (
        body.client_id !== clientId ||
        body.client_secret !== clientSecret ||
        grant === undefined ||
        (body.redirect_uri !== undefined && body.redirect_uri !== grant.redirectUri)
      ) {
        json(200, { error: "bad_verification_code", error_description: "The code is wrong." });
        return;
      }
      const token = `ghu_${randomBytes(16).toString("hex")}`;
      tokens.set(token, grant.login);
      json(200, { access_token: token, token_type: "bearer", scope: "" });
      return;
    }
    const login = tokens.get((req.headers.authorization ?? "").replace(/^(token|bearer) /i, ""));
    const user = login === undefined ? undefined : users[login];
    if (login === undefined || user === undefined) {
      json(401, { message: "Bad credentials" });
      return;
    }
    const path = url.pathname.replace(/^\/api\/v3/, "");
    if (req.method === "GET" && path === "/user") {
      json(200, { login, id: user.id, type: "User" });
      return;
    }
    const repo = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(path);
    const permission = repo === null ? undefined : user.repositories[`${repo[1]}/${repo[2]}`];
    if (repo === null || permission === undefined) {
      json(404, { message: "Not Found" });
      return;
    }
    const rest = repo[3] ?? "";
    if (req.method === "GET" && rest === "") {
      json(200, {
        // Every repository here has the id the webhook fixtures give theirs.
        id: 77,
        full_name: `${repo[1]}/${repo[2]}`,
        permissions: { admin: permission === "admin", push: permission !== "read", pull: true },
      });
      return;
    }
    if (req.method === "GET" && /^\/collaborators\/[^/]+\/permission$/.test(rest)) {
      if (permission === "read") {
        json(403, { message: "Must have push access to view repository collaborators." });
        return;
      }
      const asked = rest.split("/")[2] ?? "";
      json(200, { permission: users[asked]?.repositories[`${repo[1]}/${repo[2]}`] ?? "none" });
      return;
    }
    json(404, { message: "Not Found" });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    baseUrl: `http://127.0.0.1:${port}/api/v3`,
    clientId,
    clientSecret,
    users,
    get signInAs() {
      return state.signInAs;
    },
    set signInAs(login: string) {
      state.signInAs = login;
    },
    calls: state.calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
