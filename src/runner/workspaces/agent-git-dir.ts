import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { runGit } from "./run-git.ts";

/**
 * Where devflow's object store sits relative to the work tree's parent: the agent's
 * `.git` finds it at `../../../git/objects` from its own objects, on the host and in
 * a sandbox that mounts it beside the workspace alike.
 */
export const AGENT_OBJECTS = "git/objects";

export interface CreateAgentGitDirOptions {
  /** The freshly checked-out work tree (no `.git` in it yet). */
  tree: string;
  /** devflow's object store (`<tree>/../git/objects`), which the agent's repository borrows from read-only. */
  objectsDir: string;
  branch: string;
  head: string;
  baseBranch: string;
  base: string;
}

/**
 * Gives the agent a git repository of its own in `<tree>/.git`, so `git status`,
 * `git diff` and `git log` work as in any checkout: the run branch at `head` (index
 * included) and `origin/<base>`, its objects borrowed from devflow's store through
 * `objects/info/alternates` (mounted read-only in the sandbox, beside the workspace).
 * Nothing in it is ever used by devflow: it is made before the agent starts, while
 * no agent process is alive, and removed with the tree before the next attempt.
 */
export async function createAgentGitDir(options: CreateAgentGitDirOptions): Promise<void> {
  const gitDir = join(options.tree, ".git");
  await runGit({
    gitDir,
    args: ["init", "--quiet", `--initial-branch=${options.branch}`],
    cwd: options.tree,
  });
  // A fresh init is bare when GIT_DIR is given; the agent's is a normal checkout.
  await runGit({ gitDir, args: ["config", "core.bare", "false"] });
  await mkdir(join(gitDir, "objects", "info"), { recursive: true });
  // Relative, so the same file works on the host and in the sandbox (AGENT_OBJECTS).
  const borrowed = relative(join(gitDir, "objects"), join(dirname(options.tree), AGENT_OBJECTS));
  await writeFile(join(gitDir, "objects", "info", "alternates"), `${borrowed}\n`);
  await runGit({ gitDir, args: ["update-ref", `refs/heads/${options.branch}`, options.head] });
  await runGit({
    gitDir,
    args: ["update-ref", `refs/remotes/origin/${options.baseBranch}`, options.base],
  });
  await runGit({ gitDir, workTree: options.tree, args: ["read-tree", options.head] });
}
