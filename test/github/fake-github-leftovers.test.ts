import nock from "nock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fakeGitHub } from "../helpers/fake-github.ts";
import { API } from "../helpers/github-fixtures.ts";

beforeAll(() => {
  nock.disableNetConnect();
});
afterAll(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

async function openPullRequest(repository: string, head: string): Promise<string> {
  const response = await fetch(`${API}/repos/${repository}/pulls`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ head, base: "main", draft: true, title: head, body: "" }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { node_id: string }).node_id;
}

async function convertToDraft(nodeId: string): Promise<void> {
  const response = await fetch(`${API}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      query:
        "mutation($id: ID!) { convertPullRequestToDraft(input: { pullRequestId: $id }) { pullRequest { isDraft } } }",
      variables: { id: nodeId },
    }),
  });
  expect(response.status).toBe(200);
}

describe("a fake GitHub per test, one devflow for several tests", () => {
  it("a run of an earlier test, writing to the next test's fake GitHub, never names the next test's pull request", async () => {
    // The earlier test: its run opens a pull request, and is revised as the test ends.
    const earlier = fakeGitHub();
    const earlierPull = await openPullRequest("octo/revised", "devflow/1-widget-1");
    expect(earlier.pulls.map((pull) => pull.node_id)).toEqual([earlierPull]);

    // The next test's beforeEach: a fresh fake GitHub, which then answers everything.
    nock.cleanAll();
    const next = fakeGitHub();
    const nextPull = await openPullRequest("octo/gated", "devflow/2-widget-2");
    // The earlier run's revision puts its pull request back to draft, after the
    // handover: the next test's fake records it, as GitHub would take it.
    await convertToDraft(earlierPull);
    expect(next.published.filter((entry) => entry.kind === "graphql")).toHaveLength(1);

    // What the next test asks: did anything touch its own pull request? Nothing did.
    expect(nextPull).not.toBe(earlierPull);
    expect(
      next.published.find(
        (entry) => entry.kind === "graphql" && entry.body.includes(`"${nextPull}"`),
      ),
    ).toBeUndefined();
    await convertToDraft(nextPull);
    expect(
      next.published.filter(
        (entry) => entry.kind === "graphql" && entry.body.includes(`"${nextPull}"`),
      ),
    ).toHaveLength(1);
  });
});
