import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { commitAttempt } from "../../src/runner/workspaces/commit-attempt.ts";
import { prepareWorkspace } from "../../src/runner/workspaces/prepare-workspace.ts";
import { commitOnRemote, createBareRemote, git, tempDir } from "../helpers/git-fixtures.ts";

const branch = "devflow/7-add-a-widget";

describe("spec scenarios 5-6 (differ: an untrusted workspace is rebuilt from the run branch, not refused)", () => {
  it("scenario 5 (differs): a partial workspace is moved aside and rebuilt from the run branch", async () => {
    const remote = createBareRemote();
    const sha = commitOnRemote(remote, branch, "spec.json", "{}\n");
    const root = tempDir("workspaces");
    const partial = join(root, "run-b");
    mkdirSync(partial, { recursive: true });
    writeFileSync(join(partial, "half-written.txt"), "left by a crash\n");
    const prepared = await prepareWorkspace({
      root,
      runId: "run-b",
      remoteUrl: remote,
      branch,
      baseBranch: "main",
    });
    expect(prepared.movedAside).not.toBeNull();
    expect(readFileSync(join(prepared.movedAside ?? "", "half-written.txt"), "utf8")).toContain(
      "crash",
    );
    expect(git(prepared.path, "rev-parse", "HEAD")).toBe(sha);
    expect(existsSync(join(prepared.path, "half-written.txt"))).toBe(false);
  });
  it("scenario 6 (differs): a workspace of another repository is moved aside; its history never reaches the run branch", async () => {
    const remote = createBareRemote();
    const root = tempDir("workspaces");
    const foreign = join(root, "run-c");
    mkdirSync(foreign, { recursive: true });
    git(foreign, "init", "-q", "-b", branch);
    writeFileSync(join(foreign, "foreign.txt"), "not ours\n");
    git(foreign, "add", "foreign.txt");
    git(foreign, "commit", "-q", "-m", "foreign history");
    const foreignSha = git(foreign, "rev-parse", "HEAD");

    const prepared = await prepareWorkspace({
      root,
      runId: "run-c",
      remoteUrl: remote,
      branch,
      baseBranch: "main",
    });
    expect(prepared.movedAside).not.toBeNull();
    writeFileSync(join(prepared.path, "spec.json"), "{}\n");
    await commitAttempt({
      gitDir: prepared.gitDir,
      tree: prepared.path,
      remoteUrl: remote,
      branch,
      token: undefined,
      runId: "run-c",
      phaseKey: "spec",
      attempt: 1,
      title: "spec",
      body: "b",
    });
    const history = git(remote, "log", "--format=%H %s", branch);
    expect(history).not.toContain(foreignSha);
    expect(history).not.toContain("foreign history");
    expect(() => git(remote, "cat-file", "-t", foreignSha)).toThrow(
      /Not a valid object name|could not get object info/,
    );
  });
});
