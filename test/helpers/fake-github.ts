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
}

/**
 * GitHub's REST API as devflow uses it, answered by nock on API: installation
 * tokens, repository config, permissions, comments, reactions, pull requests,
 * check runs and the GraphQL ready-for-review call. Returns the live record of
 * what was called and published; a test may change `permissions` and `repoConfig`.
 */
export function fakeGitHub(): FakeGitHub {
  const state: FakeGitHub = {
    calls: [],
    comments: [],
    posted: [],
    published: [],
    permissions: { alice: "write", bob: "admin", mallory: "read" },
    repoConfig: null,
  };
  const { calls, comments, published } = state;
  const number = (request: Request, from: number) =>
    Number(new URL(request.url).pathname.split("/").at(from));
  nock(API)
    .persist()
    .on("request", (request: Request) =>
      calls.push(`${request.method} ${new URL(request.url).pathname}`),
    )
    .post(/\/app\/installations\/\d+\/access_tokens/)
    .reply(201, {
      token: "ghs_installation_token",
      expires_at: "2099-01-01T00:00:00Z",
      permissions: { contents: "write" },
      repository_selection: "selected",
    })
    .get(/\/repos\/[^/]+\/[^/]+\/contents\/\.github(\/|%2F)devflow\.yml/)
    .reply(() =>
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
    )
    .get(/\/repos\/[^/]+\/[^/]+\/collaborators\/([^/]+)\/permission/)
    .reply((request: Request) => [
      200,
      {
        permission:
          state.permissions[new URL(request.url).pathname.split("/").at(-2) ?? ""] ?? "none",
      },
    ])
    .post(/\/repos\/[^/]+\/[^/]+\/issues\/(\d+)\/comments/)
    .reply(async (request: Request) => {
      const { body } = (await request.json()) as { body: string };
      const issue = number(request, -2);
      state.posted.push({ issue, body });
      // A reply carries its delivery's marker on its first line; the rest is what people read.
      const reply = /^<!-- devflow-reply:[^>]*-->\n/.exec(body);
      if (reply !== null) {
        comments.push({ issue, body: body.slice(reply[0].length) });
        return [201, { id: state.posted.length }];
      }
      // devflow's own status and report comments are published, not replies.
      published.push({ kind: "comment", issue, body });
      return [201, { id: 90_000 + published.length }];
    })
    .get(/\/repos\/[^/]+\/[^/]+\/issues\/(\d+)\/comments/)
    .reply((request: Request) => [
      200,
      state.posted
        .map((comment, index) => ({ id: index + 1, body: comment.body, issue: comment.issue }))
        .filter((comment) => comment.issue === number(request, -2)),
    ])
    .patch(/\/repos\/[^/]+\/[^/]+\/issues\/comments\/\d+/)
    .reply(async (request: Request) => {
      published.push({
        kind: "update",
        issue: number(request, -1),
        body: ((await request.json()) as { body: string }).body,
      });
      return [200, {}];
    })
    .post(/\/repos\/[^/]+\/[^/]+\/issues\/\d+\/reactions/)
    .reply(async (request: Request) => {
      published.push({
        kind: "reaction",
        issue: number(request, -2),
        body: JSON.stringify(await request.json()),
      });
      return [201, { id: 1, content: "eyes" }];
    })
    .post(/\/repos\/[^/]+\/[^/]+\/pulls$/)
    .reply(async (request: Request) => {
      published.push({ kind: "pull", issue: 0, body: JSON.stringify(await request.json()) });
      return [201, { number: 7000 + published.length, node_id: `PR_${published.length}` }];
    })
    .post(/\/repos\/[^/]+\/[^/]+\/check-runs$/)
    .reply(async (request: Request) => {
      published.push({ kind: "check", issue: 0, body: JSON.stringify(await request.json()) });
      return [201, { id: 50_000 + published.length }];
    })
    .patch(/\/repos\/[^/]+\/[^/]+\/check-runs\/\d+/)
    .reply(async (request: Request) => {
      published.push({
        kind: "check-update",
        issue: number(request, -1),
        body: JSON.stringify(await request.json()),
      });
      return [200, {}];
    })
    .patch(/\/repos\/[^/]+\/[^/]+\/pulls\/\d+$/)
    .reply(async (request: Request) => {
      published.push({
        kind: "pull-update",
        issue: number(request, -1),
        body: ((await request.json()) as { body: string }).body,
      });
      return [200, {}];
    })
    .post("/graphql")
    .reply(async (request: Request) => {
      published.push({ kind: "graphql", issue: 0, body: JSON.stringify(await request.json()) });
      return [
        200,
        { data: { markPullRequestReadyForReview: { pullRequest: { isDraft: false } } } },
      ];
    });
  return state;
}
