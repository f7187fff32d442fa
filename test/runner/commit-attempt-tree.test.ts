import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { DevflowError } from "../../src/errors.ts";
import { refuseSecrets } from "../../src/runner/attempt/scan-commit.ts";
import { commitAttempt } from "../../src/runner/workspaces/commit-attempt.ts";
import { prepareWorkspace } from "../../src/runner/workspaces/prepare-workspace.ts";
import { refuseGitlinks } from "../../src/runner/workspaces/refuse-gitlinks.ts";
import { runGit } from "../../src/runner/workspaces/run-git.ts";
import { type CommitLimits, DEFAULT_COMMIT_LIMITS } from "../../src/security/execution-limits.ts";
import { createSecrets } from "../../src/security/secrets.ts";
import { readSettings } from "../../src/settings.ts";
import { commitOnRemote, createBareRemote, git, tempDir } from "../helpers/git-fixtures.ts";

const branch = "devflow/9-the-tree";

/** A workspace of a fresh remote, the way an attempt gets it, and a way to commit it. */
async function workspace(seed?: (remote: string) => void) {
  const remote = createBareRemote();
  seed?.(remote);
  const runId = randomUUID();
  const prepared = await prepareWorkspace({
    root: tempDir("workspaces"),
    runId,
    remoteUrl: remote,
    branch,
    baseBranch: "main",
  });
  const commit = (limits?: CommitLimits, review?: ReturnType<typeof refuseSecrets>) =>
    commitAttempt({
      gitDir: prepared.gitDir,
      tree: prepared.path,
      remoteUrl: remote,
      branch,
      token: undefined,
      runId,
      phaseKey: "spec",
      attempt: 1,
      title: "the tree",
      body: "b",
      forceAdd: [`.devflow/runs/${runId}`],
      ...(limits === undefined ? {} : { limits }),
      ...(review === undefined ? {} : { review }),
    });
  return { remote, runId, prepared, tree: prepared.path, commit };
}

function hostRepository(): { dir: string; head: string } {
  const dir = tempDir("host-repo");
  git(dir, "init", "-q", "-b", "main");
  writeFileSync(join(dir, "private.txt"), "the host's own\n");
  git(dir, "add", "private.txt");
  git(dir, "commit", "-q", "-m", "host");
  return { dir, head: git(dir, "rev-parse", "HEAD") };
}

/** The pushed commit's entries, `<mode> <type> <sha>\t<path>`, names as bytes (latin1). */
function pushedEntries(remote: string): string[] {
  return execFileSync("git", ["ls-tree", "-r", "-z", branch], { cwd: remote, encoding: "latin1" })
    .split("\0")
    .filter((entry) => entry !== "");
}

async function refusal(promise: Promise<unknown>): Promise<DevflowError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(DevflowError);
  return error as DevflowError;
}

describe("what an agent leaves in its tree cannot make devflow's git follow or link a repository", () => {
  it("nested .git entries in every spelling and form are removed before staging, named in the commit, and their directories' files committed as plain files", async () => {
    const { remote, runId, tree, commit } = await workspace();
    const host = hostRepository();
    // A repository with no commit yet: git add fails on it outright.
    mkdirSync(join(tree, "empty-repo"));
    git(join(tree, "empty-repo"), "init", "-q");
    writeFileSync(join(tree, "empty-repo", "a.txt"), "a\n");
    // A .git git refuses as a path on any filesystem: `git add` fails on it.
    mkdirSync(join(tree, "shout", ".GIT"), { recursive: true });
    writeFileSync(join(tree, "shout", ".GIT", "config"), "[core]\n");
    writeFileSync(join(tree, "shout", "keep.txt"), "kept\n");
    mkdirSync(join(tree, ".Git"));
    writeFileSync(join(tree, ".Git", "HEAD"), "ref: refs/heads/main\n");
    // A link to the host's repository, and a gitfile where .gitmodules hides submodules.
    mkdirSync(join(tree, "linked"));
    writeFileSync(join(tree, "linked", "keep.txt"), "kept\n");
    symlinkSync(join(host.dir, ".git"), join(tree, "linked", ".git"));
    mkdirSync(join(tree, "hidden"));
    writeFileSync(join(tree, "hidden", "keep.txt"), "kept\n");
    writeFileSync(join(tree, "hidden", ".git"), `gitdir: ${host.dir}/.git\n`);
    writeFileSync(
      join(tree, ".gitmodules"),
      `[submodule "hidden"]\n\tpath = hidden\n\turl = ${host.dir}\n\tignore = all\n`,
    );
    // A link whose target is a directory holding a .git: not followed, kept as the link it is.
    symlinkSync(host.dir, join(tree, "host-link"));
    // A name that would close an issue once the commit is on GitHub.
    mkdirSync(join(tree, "fixes #1"));
    writeFileSync(join(tree, "fixes #1", ".git"), `gitdir: ${host.dir}/.git\n`);
    writeFileSync(join(tree, "fixes #1", "keep.txt"), "kept\n");
    // The top's .git made to name the host's repository: devflow's git never reads it.
    rmSync(join(tree, ".git"), { recursive: true, force: true });
    writeFileSync(join(tree, ".git"), `gitdir: ${host.dir}/.git\n`);
    mkdirSync(join(tree, `.devflow/runs/${runId}`), { recursive: true });
    writeFileSync(join(tree, `.devflow/runs/${runId}/spec.json`), "{}\n");

    const sha = await commit();
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
    const entries = pushedEntries(remote);
    for (const entry of entries) expect(entry).toMatch(/^(100644|120000) blob /);
    const paths = entries.map((entry) => entry.split("\t")[1]);
    expect(paths).toEqual(
      expect.arrayContaining([
        "empty-repo/a.txt",
        "shout/keep.txt",
        "linked/keep.txt",
        "hidden/keep.txt",
        "fixes #1/keep.txt",
        ".gitmodules",
        "host-link",
      ]),
    );
    expect(paths.some((path) => /(^|\/)\.git(\/|$)/i.test(path ?? ""))).toBe(false);
    expect(() => git(remote, "cat-file", "-e", host.head)).toThrow();
    // The host's repository is whole: devflow removed the links to it, not what they named.
    expect(git(host.dir, "rev-parse", "HEAD")).toBe(host.head);
    expect(readdirSync(host.dir)).toEqual(expect.arrayContaining([".git", "private.txt"]));

    const message = git(remote, "log", "-1", "--format=%B", branch);
    for (const path of [".Git", "empty-repo/.git", "hidden/.git", "linked/.git", "shout/.GIT"]) {
      expect(message).toContain(`devflow removed a nested git repository at ${path}\n`);
    }
    // Named, but not as words GitHub would close issue 1 with.
    expect(message).toMatch(/devflow removed a nested git repository at \S+ #1\/\.git\n/);
    expect(message).not.toMatch(/fixes #1/i);
    // The trailers are still the message's last paragraph.
    expect(git(remote, "log", "-1", "--format=%(trailers:key=Devflow-Run,valueonly)", branch)).toBe(
      runId,
    );
    // Nothing of devflow's is left beside the tree.
    expect(readdirSync(dirname(tree)).filter((name) => name.startsWith("nested-git-"))).toEqual([]);
  });

  it("names with newlines and bytes that are not UTF-8 hide no repository", async () => {
    const { remote, tree, commit } = await workspace();
    const host = hostRepository();
    const odd = Buffer.from(`${tree}/odd\nname`);
    const bytes = Buffer.from(`${tree}/bytes-\xff`, "latin1");
    for (const dir of [odd, bytes]) {
      mkdirSync(dir);
      writeFileSync(Buffer.concat([dir, Buffer.from("/.git")]), `gitdir: ${host.dir}/.git\n`);
      writeFileSync(Buffer.concat([dir, Buffer.from("/keep.txt")]), "kept\n");
    }
    await commit();
    const entries = pushedEntries(remote);
    expect(entries.every((entry) => entry.startsWith("100644 blob "))).toBe(true);
    expect(entries.map((entry) => entry.split("\t")[1])).toEqual(
      expect.arrayContaining(["odd\nname/keep.txt", "bytes-\xff/keep.txt"]),
    );
    const message = git(remote, "log", "-1", "--format=%B", branch);
    expect(message).toContain('devflow removed a nested git repository at "odd\\nname/.git"\n');
    expect(message).toContain('devflow removed a nested git repository at "bytes-\\xff/.git"\n');
  });

  it("a gitlink staged all the same is refused, even where .gitmodules says to ignore it", async () => {
    const { prepared, tree } = await workspace();
    const host = hostRepository();
    writeFileSync(
      join(tree, ".gitmodules"),
      '[submodule "x"]\n\tpath = x\n\turl = /x\n\tignore = all\n',
    );
    const stage = (...args: string[]) =>
      runGit({ gitDir: prepared.gitDir, workTree: tree, args: ["update-index", ...args] });
    await stage("--add", ".gitmodules");
    await stage("--add", "--cacheinfo", `160000,${host.head},x`);
    const error = await refusal(refuseGitlinks({ gitDir: prepared.gitDir, tree }));
    expect(error.code).toBe("gitlink_in_commit");
    expect(error.message).toContain("1 link(s) to another git repository");
    // A tree without one passes.
    await stage("--force-remove", "x");
    await refuseGitlinks({ gitDir: prepared.gitDir, tree });
  });
});

describe("an attempt's commit has limits", () => {
  it("counts every file the commit would change — new, changed, deleted, forced past .gitignore — and refuses one more than the limit", async () => {
    const { remote, runId, tree, commit } = await workspace((remote) =>
      commitOnRemote(remote, "main", "old.txt", "old\n"),
    );
    unlinkSync(join(tree, "README.md"));
    writeFileSync(join(tree, "old.txt"), "changed\n");
    writeFileSync(join(tree, ".gitignore"), ".devflow/\nignored.txt\n");
    writeFileSync(join(tree, "ignored.txt"), "not committed\n");
    mkdirSync(join(tree, `.devflow/runs/${runId}/deep`), { recursive: true });
    writeFileSync(join(tree, `.devflow/runs/${runId}/spec.json`), "{}\n");
    writeFileSync(join(tree, `.devflow/runs/${runId}/deep/x.md`), "x\n");
    // README.md deleted, old.txt changed, .gitignore new, spec.json and deep/x.md forced.
    const error = await refusal(commit({ maxFiles: 4, maxMb: 100 }));
    expect(error.code).toBe("commit_too_large");
    expect(error.class).toBe("fatal");
    expect(error.message).toBe(
      "devflow did not push this attempt: its commit would change 5 files, more than the 4 one attempt's commit may change (DEVFLOW_MAX_COMMIT_FILES)",
    );
    expect(error.recoveryHint).toContain("raise DEVFLOW_MAX_COMMIT_FILES");
    expect(git(remote, "branch", "--list")).not.toContain(branch);
    // At the limit it goes through, with exactly those five.
    await commit({ maxFiles: 5, maxMb: 100 });
    expect(git(remote, "diff", "--name-only", "main", branch).split("\n")).toEqual([
      `.devflow/runs/${runId}/deep/x.md`,
      `.devflow/runs/${runId}/spec.json`,
      ".gitignore",
      "README.md",
      "old.txt",
    ]);
  });

  it("refuses what would add more MiB than the limit, however the big file is named, before staging it", async () => {
    const { remote, prepared, tree, commit } = await workspace();
    const big = Buffer.from(`${tree}/big-\xff\n.bin`, "latin1");
    writeFileSync(big, Buffer.alloc(2 * 1024 * 1024 + 1, 7));
    const objectsBefore = git(prepared.gitDir, "count-objects", "-v");
    const error = await refusal(commit({ maxFiles: 10, maxMb: 2 }));
    expect(error.code).toBe("commit_too_large");
    expect(error.message).toContain("would add 2.0 MiB, more than the 2 MiB");
    expect(error.message).toContain("(DEVFLOW_MAX_COMMIT_MB)");
    // Not hashed into devflow's store, not pushed.
    expect(git(prepared.gitDir, "count-objects", "-v")).toBe(objectsBefore);
    expect(git(remote, "branch", "--list")).not.toContain(branch);
  });

  it("a tree of 20,000 new files is refused at the default limit with its exact count", async () => {
    const { tree, commit } = await workspace();
    mkdirSync(join(tree, "bulk"));
    for (let index = 0; index < 20_000; index += 1) {
      writeFileSync(join(tree, "bulk", `f${index}`), "");
    }
    const error = await refusal(commit());
    expect(error.message).toContain(
      `would change 20000 files, more than the ${DEFAULT_COMMIT_LIMITS.maxFiles}`,
    );
  }, 60_000);

  it("the limits are settings, with defaults, refusing what is not a whole number", () => {
    expect(readSettings({}).commitLimits).toEqual({ maxFiles: 10_000, maxMb: 100 });
    expect(
      readSettings({ DEVFLOW_MAX_COMMIT_FILES: "50000", DEVFLOW_MAX_COMMIT_MB: "1024" })
        .commitLimits,
    ).toEqual({ maxFiles: 50_000, maxMb: 1024 });
    expect(() => readSettings({ DEVFLOW_MAX_COMMIT_FILES: "lots" })).toThrow(
      /DEVFLOW_MAX_COMMIT_FILES must be an integer/,
    );
    expect(() => readSettings({ DEVFLOW_MAX_COMMIT_MB: "0" })).toThrow(/DEVFLOW_MAX_COMMIT_MB/);
  });
});

describe("a protected value in a file's name", () => {
  const token = `ghs_${"N".repeat(36)}`;
  const secrets = createSecrets([{ name: "the model key", value: `sk-name-${"k".repeat(24)}` }]);

  it("an empty file named with it is refused, and the refusal does not repeat the name", async () => {
    const { remote, tree, commit } = await workspace();
    writeFileSync(join(tree, `${token}.txt`), "");
    const error = await refusal(commit(undefined, refuseSecrets(secrets)));
    expect(error.code).toBe("secret_in_commit");
    expect(error.message).toContain("in a file's name");
    expect(error.message).not.toContain(token);
    expect(git(remote, "branch", "--list")).not.toContain(branch);
  });

  it("a file named with one and holding another is placed by its name redacted", async () => {
    const { tree, commit } = await workspace();
    mkdirSync(join(tree, `sk-name-${"k".repeat(24)}`));
    writeFileSync(
      join(tree, `sk-name-${"k".repeat(24)}`, "config.js"),
      `export const t = "${token}";\n`,
    );
    const error = await refusal(commit(undefined, refuseSecrets(secrets)));
    expect(error.message).toContain("the model key in a file's name");
    expect(error.message).toContain("in [redacted the model key]/config.js line 1");
    expect(error.message).not.toContain("k".repeat(24));
    expect(error.message).not.toContain(token);
  });
});
