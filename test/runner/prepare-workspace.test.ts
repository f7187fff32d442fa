import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { prepareWorkspace } from "../../src/runner/workspaces/prepare-workspace.ts";
import { gitEnvironment } from "../../src/runner/workspaces/run-git.ts";
import { commitOnRemote, createBareRemote, git, tempDir } from "../helpers/git-fixtures.ts";

const branch = "devflow/7-add-a-widget";

describe("the run workspace (the run branch on the remote is the truth)", () => {
  it("clones the run branch from the remote, or starts it from the base branch", async () => {
    const remote = createBareRemote();
    const root = tempDir("workspaces");
    const fresh = await prepareWorkspace({
      root,
      runId: "run-a",
      remoteUrl: remote,
      branch,
      baseBranch: "main",
    });
    expect(fresh.branchOnRemote).toBe(false);
    expect(git(fresh.path, "rev-parse", "--abbrev-ref", "HEAD")).toBe(branch);

    const sha = commitOnRemote(remote, branch, "spec.json", "{}\n");
    const again = await prepareWorkspace({
      root,
      runId: "run-a",
      remoteUrl: remote,
      branch,
      baseBranch: "main",
    });
    expect(again).toMatchObject({ branchOnRemote: true, movedAside: null });
    expect(git(again.path, "rev-parse", "HEAD")).toBe(sha);
  });

  it("refuses a base branch the remote does not have", async () => {
    const remote = createBareRemote();
    await expect(
      prepareWorkspace({
        root: tempDir("workspaces"),
        runId: "run-d",
        remoteUrl: remote,
        branch,
        baseBranch: "trunk",
      }),
    ).rejects.toMatchObject({ code: "base_branch_missing", category: "git" });
  });

  it("keeps the token out of the repository's config", async () => {
    const remote = createBareRemote();
    const prepared = await prepareWorkspace({
      root: tempDir("workspaces"),
      runId: "run-e",
      remoteUrl: remote,
      branch,
      baseBranch: "main",
      token: "ghs_secret123",
    });
    for (const config of [join(prepared.path, ".git", "config"), join(prepared.gitDir, "config")]) {
      expect(readFileSync(config, "utf8")).not.toContain("ghs_secret123");
    }
    // The header goes to this remote's URL only, in the git command's environment.
    const env = gitEnvironment({ auth: { url: remote, token: "ghs_secret123" } });
    const header = Object.entries(env).find(([, value]) => value === `http.${remote}.extraHeader`);
    expect(header).toBeDefined();
    expect(env[(header?.[0] ?? "").replace("KEY", "VALUE")]).toBe(
      `Authorization: Basic ${Buffer.from("x-access-token:ghs_secret123").toString("base64")}`,
    );
  });
});

describe("the per-repository cache", () => {
  it("serves concurrent runs of one repository without corrupting it, and each workspace stands alone", async () => {
    const { refreshRepositoryCache } = await import(
      "../../src/runner/workspaces/repository-cache.ts"
    );
    const remote = createBareRemote();
    const root = tempDir("workspaces");
    const prepared = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const cache = await refreshRepositoryCache({ root, remoteUrl: remote });
        return prepareWorkspace({
          root,
          runId: `run-${i}`,
          remoteUrl: remote,
          branch: `devflow/${i}-x`,
          baseBranch: "main",
          cache,
        });
      }),
    );
    const cache = await refreshRepositoryCache({ root, remoteUrl: remote });
    expect(git(cache, "fsck", "--no-progress")).toBe("");
    expect(git(cache, "rev-parse", "main")).toBe(git(remote, "rev-parse", "main"));
    for (const [i, workspace] of prepared.entries()) {
      expect(git(workspace.path, "rev-parse", "--abbrev-ref", "HEAD")).toBe(`devflow/${i}-x`);
      // devflow's objects are its own: nothing is borrowed from the cache, which may be pruned.
      expect(existsSync(join(workspace.gitDir, "objects", "info", "alternates"))).toBe(false);
    }
    // A new commit on the remote reaches the cache on the next refresh.
    commitOnRemote(remote, "main", "NEW.md", "new\n");
    await refreshRepositoryCache({ root, remoteUrl: remote });
    expect(git(cache, "rev-parse", "main")).toBe(git(remote, "rev-parse", "main"));
  });
});
