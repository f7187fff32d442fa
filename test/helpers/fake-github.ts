import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import nock from "nock";
import { API } from "./github-fixtures.ts";

/** What devflow published to the fake GitHub, in order. */
export interface Publication {
  kind:
    | "comment"
    | "update"
    | "reaction"
    | "pull"
    | "pull-update"
    | "graphql"
    | "check"
    | "check-update";
  /** The issue or pull request number (or the check run id for updates; 0 when none). */
  issue: number;
  body: string;
  /** `owner/name`, for check runs: several runs may publish to one fake GitHub. */
  repository?: string;
}

export interface FakeGitHub {
  /** Every REST call, as `METHOD /path`. */
  calls: string[];
  /** Replies to people (comments that are not devflow's own status or report), without their marker. */
  comments: { issue: number; body: string }[];
  /** Every comment created, as posted. */
  posted: { issue: number; body: string }[];
  published: Publication[];
  /** Each login's permission on every repository ("none" when absent). */
  permissions: Record<string, string>;
  /** `.github/devflow.yml` on the default branch; null: there is none. */
  repoConfig: string | null;
  /** Files under `.github/devflow/` on the default branch, by path (`.github/devflow/templates/x@1.yml`). */
  repoFiles: Record<string, string>;
  /** Pull requests opened, by head branch (GitHub allows one open pull request per head). */
  pulls: { number: number; head: string; node_id: string }[];
  /** GitHub's log of the app's webhook deliveries, newest first: every attempt and its answer. */
  hookDeliveries: HookDelivery[];
  /** The GUIDs devflow asked to have redelivered, in order. */
  redeliveries: string[];
  /** What GitHub does when asked to redeliver (a test sends the delivery again). */
  redeliver?: (delivery: HookDelivery) => void;
}

/** One attempt at delivering a webhook, as GitHub lists it (and the payload it sent). */
export interface HookDelivery {
  id: number;
  guid: string;
  delivered_at: string;
  status_code: number;
  event: string;
  action: string | null;
  payload: unknown;
}

type Answer = [number, unknown];

interface Route {
  method: string;
  path: RegExp;
  answer(state: FakeGitHub, parts: string[], body: unknown, query: URLSearchParams): Answer;
}

const text = (body: unknown) => (body as { body?: string } | null)?.body ?? "";
const at = (parts: string[], from: number) => Number(parts.at(from));

/**
 * GitHub's REST API as devflow uses it: installation tokens, repository config,
 * permissions, comments, reactions, pull requests, check runs and the GraphQL
 * ready-for-review call. One answer per request, whichever transport brought it
 * (nock in this process, or a real HTTP server).
 */
const ROUTES: Route[] = [
  {
    method: "POST",
    path: /^\/app\/installations\/\d+\/access_tokens$/,
    answer: () => [
      201,
      {
        token: "ghs_installation_token",
        expires_at: "2099-01-01T00:00:00Z",
        permissions: { contents: "write" },
        repository_selection: "selected",
      },
    ],
  },
  {
    method: "GET",
    path: /^\/repos\/[^/]+\/[^/]+\/contents\/\.github(\/|%2F)devflow\.yml/,
    answer: (state) =>
      state.repoConfig === null
        ? [404, { message: "Not Found" }]
        : [
            200,
            {
              type: "file",
              encoding: "base64",
              content: Buffer.from(state.repoConfig).toString("base64"),
            },
          ],
  },
  {
    method: "GET",
    path: /^\/repos\/[^/]+\/[^/]+\/contents\/\.github(\/|%2F)devflow(\/|%2F)/,
    answer: (state, parts) => {
      const path = decodeURIComponent(parts.slice(5).join("/"));
      const content = Object.hasOwn(state.repoFiles, path) ? state.repoFiles[path] : undefined;
      if (content === undefined) return [404, { message: "Not Found" }];
      return [
        200,
        {
          type: "file",
          path,
          size: Buffer.byteLength(content),
          encoding: "base64",
          content: Buffer.from(content).toString("base64"),
        },
      ];
    },
  },
  {
    method: "GET",
    path: /^\/repos\/[^/]+\/[^/]+\/collaborators\/[^/]+\/permission$/,
    answer: (state, parts) => [
      200,
      { permission: state.permissions[parts.at(-2) ?? ""] ?? "none" },
    ],
  },
  {
    method: "POST",
    path: /^\/repos\/[^/]+\/[^/]+\/issues\/\d+\/comments$/,
    answer: (state, parts, body) => {
      const issue = at(parts, -2);
      state.posted.push({ issue, body: text(body) });
      // A reply carries its delivery's marker on its first line; the rest is what people read.
      const reply = /^<!-- devflow-reply:[^>]*-->\n/.exec(text(body));
      if (reply !== null) {
        state.comments.push({ issue, body: text(body).slice(reply[0].length) });
        return [201, { id: state.posted.length }];
      }
      // devflow's own status and report comments are published, not replies.
      state.published.push({ kind: "comment", issue, body: text(body) });
      return [201, { id: 90_000 + state.published.length }];
    },
  },
  {
    method: "GET",
    path: /^\/repos\/[^/]+\/[^/]+\/issues\/\d+\/comments$/,
    answer: (state, parts) => [
      200,
      state.posted
        .map((comment, index) => ({ id: index + 1, body: comment.body, issue: comment.issue }))
        .filter((comment) => comment.issue === at(parts, -2)),
    ],
  },
  {
    method: "PATCH",
    path: /^\/repos\/[^/]+\/[^/]+\/issues\/comments\/\d+$/,
    answer: (state, parts, body) => {
      state.published.push({ kind: "update", issue: at(parts, -1), body: text(body) });
      return [200, {}];
    },
  },
  {
    method: "POST",
    path: /^\/repos\/[^/]+\/[^/]+\/issues\/\d+\/reactions$/,
    answer: (state, parts, body) => {
      state.published.push({ kind: "reaction", issue: at(parts, -2), body: JSON.stringify(body) });
      return [201, { id: 1, content: "eyes" }];
    },
  },
  {
    method: "POST",
    path: /^\/repos\/[^/]+\/[^/]+\/pulls$/,
    answer: (state, _parts, body) => {
      const head = (body as { head?: string }).head ?? "";
      // As GitHub: one open pull request per head branch.
      if (state.pulls.some((pull) => pull.head === head)) {
        return [
          422,
          {
            message: "Validation Failed",
            errors: [{ message: `A pull request already exists for ${head}.` }],
          },
        ];
      }
      state.published.push({ kind: "pull", issue: 0, body: JSON.stringify(body) });
      const pull = {
        number: 7000 + state.published.length,
        head,
        // Unique in the process, as GitHub's are: a run a test left behind writes to
        // the next test's fake GitHub, and must not name a pull request of that test.
        node_id: `PR_${randomUUID()}`,
      };
      state.pulls.push(pull);
      return [201, pull];
    },
  },
  {
    method: "GET",
    path: /^\/repos\/[^/]+\/[^/]+\/pulls$/,
    answer: (state, _parts, _body, query) => {
      const head = (query.get("head") ?? "").split(":").at(-1);
      return [200, state.pulls.filter((pull) => head === undefined || pull.head === head)];
    },
  },
  {
    method: "POST",
    path: /^\/repos\/[^/]+\/[^/]+\/check-runs$/,
    answer: (state, parts, body) => {
      state.published.push({
        kind: "check",
        issue: 0,
        body: JSON.stringify(body),
        repository: `${parts[2]}/${parts[3]}`,
      });
      return [201, { id: 50_000 + state.published.length }];
    },
  },
  {
    method: "PATCH",
    path: /^\/repos\/[^/]+\/[^/]+\/check-runs\/\d+$/,
    answer: (state, parts, body) => {
      state.published.push({
        kind: "check-update",
        issue: at(parts, -1),
        body: JSON.stringify(body),
        repository: `${parts[2]}/${parts[3]}`,
      });
      return [200, {}];
    },
  },
  {
    method: "PATCH",
    path: /^\/repos\/[^/]+\/[^/]+\/pulls\/\d+$/,
    answer: (state, parts, body) => {
      state.published.push({ kind: "pull-update", issue: at(parts, -1), body: text(body) });
      return [200, {}];
    },
  },
  {
    method: "GET",
    path: /^\/app\/hook\/deliveries$/,
    answer: (state) => [
      200,
      state.hookDeliveries.map(({ payload: _payload, ...delivery }) => delivery),
    ],
  },
  {
    method: "POST",
    path: /^\/app\/hook\/deliveries\/\d+\/attempts$/,
    answer: (state, parts) => {
      const delivery = state.hookDeliveries.find((d) => d.id === at(parts, -2));
      if (delivery === undefined) return [404, { message: "Not Found" }];
      state.redeliveries.push(delivery.guid);
      setTimeout(() => state.redeliver?.(delivery), 20);
      return [202, {}];
    },
  },
  {
    method: "POST",
    path: /^(\/api)?\/graphql$/,
    answer: (state, _parts, body) => {
      state.published.push({ kind: "graphql", issue: 0, body: JSON.stringify(body) });
      return [
        200,
        { data: { markPullRequestReadyForReview: { pullRequest: { isDraft: false } } } },
      ];
    },
  },
];

function routeOf(method: string, path: string): Route | undefined {
  return ROUTES.find((route) => route.method === method && route.path.test(path));
}

function answer(state: FakeGitHub, method: string, url: URL, body: unknown): Answer {
  const path = url.pathname.replace(/^\/api\/v3/, "");
  const route = routeOf(method, path);
  if (route === undefined)
    return [404, { message: `the fake GitHub does not know ${method} ${path}` }];
  state.calls.push(`${method} ${path}`);
  return route.answer(state, path.split("/"), body, url.searchParams);
}

function newState(): FakeGitHub {
  return {
    calls: [],
    comments: [],
    posted: [],
    published: [],
    permissions: { alice: "write", bob: "admin", mallory: "read" },
    repoConfig: null,
    repoFiles: {},
    pulls: [],
    hookDeliveries: [],
    redeliveries: [],
  };
}

/**
 * GitHub's REST API as devflow uses it, answered by nock on API in this process.
 * Returns the live record of what was called and published; a test may change
 * `permissions`, `repoConfig` and `repoFiles`.
 */
export function fakeGitHub(): FakeGitHub {
  const state = newState();
  for (const method of ["GET", "POST", "PATCH", "PUT", "DELETE"]) {
    nock(API)
      .persist()
      // Only the routes above: a test may add its own interceptors for the rest.
      .intercept((path) => routeOf(method, new URL(path, API).pathname) !== undefined, method)
      .reply(async (request: Request) => {
        const raw = await request.text();
        return answer(state, method, new URL(request.url), raw === "" ? null : JSON.parse(raw)) as [
          number,
          nock.Body,
        ];
      });
  }
  return state;
}

/**
 * The same fake GitHub as a real HTTP server on loopback, for devflow processes a
 * test starts (`GHE_HOST=<host>`, `GHE_PROTOCOL=http`: every call, tokens
 * included, then goes to `<url>/api/v3`).
 */
export async function fakeGitHubServer(): Promise<{
  state: FakeGitHub;
  host: string;
  /** Every request as it arrives (`METHOD /path body…`), before any delay. */
  arrived: string[];
  /** Holds answers to requests whose `METHOD /path body…` matches, for `ms` (a slow GitHub). */
  delay: { pattern: RegExp; ms: number } | null;
  close(): Promise<void>;
}> {
  const state = newState();
  const control = {
    arrived: [] as string[],
    delay: null as { pattern: RegExp; ms: number } | null,
  };
  const server: Server = createServer(async (req, res) => {
    let raw = "";
    for await (const chunk of req) raw += chunk;
    const url = new URL(req.url ?? "/", "http://github.test");
    const path = url.pathname.replace(/^\/api\/v3/, "");
    const arrival = `${req.method} ${path} ${raw.slice(0, 300)}`;
    control.arrived.push(arrival);
    if (control.delay?.pattern.test(arrival)) await sleep(control.delay.ms);
    const [status, body] = answer(
      state,
      req.method ?? "GET",
      url,
      raw === "" ? null : JSON.parse(raw),
    );
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    state,
    host: `127.0.0.1:${port}`,
    arrived: control.arrived,
    get delay() {
      return control.delay;
    },
    set delay(value) {
      control.delay = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
