import { lstat, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DevflowError } from "../../errors.ts";
import { createAgentGitDir } from "./agent-git-dir.ts";
import { removeTree } from "./remove-tree.ts";
import { type GitAuth, gitFailure, runGit } from "./run-git.ts";

export interface PrepareWorkspaceOptions {
  /** Where per-run workspaces live. */
  root: string;
  runId: string;
  /** The repository's clone URL (from the webhook payload), without credentials. */
  remoteUrl: string;
  /** The run branch, `devflow/<issue>-<slug>`. */
  branch: string;
  baseBranch: string;
  /** An installation token, sent with each fetch or push to `remoteUrl` and never stored. */
  token?: string | undefined;
  /**
   * A local bare copy of the repository to take objects from, when there is one;
   * or the copy being brought up to date, awaited only when its objects are needed
   * (the workspace's own set-up and the remote's listing go on meanwhile).
   */
  cache?: string | Promise<string> | undefined;
}

/**
 * A run's workspace: two trust zones side by side. `tree` is the agent's: the
 * checked-out run branch, rebuilt from nothing before every attempt, with a `.git`
 * of its own the agent may use and break as it likes. `gitDir` is devflow's: the
 * only git metadata devflow's fetch, commit and push ever use, never mounted
 * where an agent can write.
 */
export interface PreparedWorkspace {
  /** The work tree the agent works in. */
  path: string;
  /** devflow's git directory (`GIT_DIR` of every devflow git command on this workspace). */
  gitDir: string;
  /** devflow's object store: the agent's `.git` borrows from it, read-only. */
  objectsDir: string;
  /** Where a workspace that could not be trusted was moved, if one was. */
  movedAside: string | null;
  /** Whether the run branch already existed on the remote. */
  branchOnRemote: boolean;
  /** The commit the tree was checked out at. */
  head: string;
}

/** The layout of a run's workspace directory. */
export function workspaceLayout(root: string, runId: string) {
  const dir = join(root, runId);
  return {
    dir,
    gitDir: join(dir, "git"),
    tree: join(dir, "tree"),
    remoteFile: join(dir, "remote"),
  };
}

/** Why an existing workspace directory is not this run's, or null when it is. */
async function whyUntrusted(
  layout: ReturnType<typeof workspaceLayout>,
  remoteUrl: string,
): Promise<string | null> {
  const stats = await lstat(layout.dir);
  if (!stats.isDirectory()) return "it is not a directory";
  let recorded: string;
  try {
    recorded = (await readFile(layout.remoteFile, "utf8")).trim();
  } catch {
    return "it is not a complete devflow workspace";
  }
  if (recorded !== remoteUrl) return `it belongs to ${recorded}, not ${remoteUrl}`;
  try {
    await runGit({ gitDir: layout.gitDir, args: ["rev-parse", "--git-dir"] });
  } catch (error) {
    return `git cannot read it (${(error as Error).message})`;
  }
  return null;
}

/** The run and base branches' commits on the remote (one round trip). */
async function remoteHeads(
  gitDir: string,
  options: PrepareWorkspaceOptions,
  auth: GitAuth | undefined,
): Promise<Map<string, string>> {
  const listing = await runGit({
    gitDir,
    args: ["ls-remote", "--heads", options.remoteUrl, options.branch, options.baseBranch],
    auth,
  });
  const heads = new Map<string, string>();
  for (const line of listing.split("\n")) {
    const [sha, ref] = line.trim().split(/\s+/);
    const name = ref?.slice("refs/heads/".length);
    // ls-remote matches patterns by their tail: refs/heads/x/main matches "main" too.
    if (sha !== undefined && (name === options.branch || name === options.baseBranch)) {
      heads.set(name, sha);
    }
  }
  return heads;
}

/**
 * Makes `<root>/<runId>` this run's workspace with the run branch as it is on the
 * remote (the remote run branch is the truth; a branch not there yet starts from
 * the base branch). devflow's git directory fetches with the token, to the
 * explicit URL; the agent's tree is removed and checked out afresh, so nothing an
 * earlier attempt left (files, `.git` contents, links) reaches this one. A
 * directory there that is partial or belongs to another repository is never
 * worked in: it is moved aside (nothing is deleted) and the workspace is made anew.
 */
export async function prepareWorkspace(
  options: PrepareWorkspaceOptions,
): Promise<PreparedWorkspace> {
  await mkdir(options.root, { recursive: true });
  const layout = workspaceLayout(options.root, options.runId);
  const auth =
    options.token === undefined ? undefined : { url: options.remoteUrl, token: options.token };
  let movedAside: string | null = null;
  const existing = await lstat(layout.dir).catch(() => null);
  if (existing !== null && (await whyUntrusted(layout, options.remoteUrl)) !== null) {
    movedAside = `${layout.dir}.untrusted-${Date.now()}`;
    await rename(layout.dir, movedAside);
  }
  try {
    if (movedAside !== null || existing === null) {
      await mkdir(layout.dir, { recursive: true });
      await runGit({ gitDir: layout.gitDir, args: ["init", "--quiet"], cwd: layout.dir });
      await writeFile(layout.remoteFile, `${options.remoteUrl}\n`);
    }
    const heads = await remoteHeads(layout.gitDir, options, auth);
    const base = heads.get(options.baseBranch);
    if (base === undefined) {
      throw new DevflowError(
        `the base branch ${options.baseBranch} is not on ${options.remoteUrl}`,
        { class: "fatal", code: "base_branch_missing", category: "git" },
      );
    }
    const branchOnRemote = heads.has(options.branch);
    const cache = await options.cache;
    if (cache !== undefined) {
      // Most objects come from this host's cache; the remote sends only what is newer.
      await runGit({
        gitDir: layout.gitDir,
        args: [
          "fetch",
          "--quiet",
          "--no-tags",
          cache,
          `+refs/heads/${options.baseBranch}:refs/devflow/cache`,
        ],
      }).catch(() => undefined);
    }
    const refspecs = [...heads.keys()].map(
      (name) => `+refs/heads/${name}:refs/remotes/origin/${name}`,
    );
    await runGit({
      gitDir: layout.gitDir,
      args: ["fetch", "--quiet", "--no-tags", options.remoteUrl, ...refspecs],
      auth,
    });
    const head = heads.get(options.branch) ?? base;
    await runGit({
      gitDir: layout.gitDir,
      args: ["update-ref", `refs/heads/${options.branch}`, head],
    });
    await runGit({
      gitDir: layout.gitDir,
      args: ["symbolic-ref", "HEAD", `refs/heads/${options.branch}`],
    });
    await removeTree(layout.tree);
    await mkdir(layout.tree);
    await removeTree(join(layout.gitDir, "index"));
    await runGit({
      gitDir: layout.gitDir,
      workTree: layout.tree,
      args: ["reset", "--hard", "--quiet", head],
    });
    await createAgentGitDir({
      tree: layout.tree,
      objectsDir: join(layout.gitDir, "objects"),
      branch: options.branch,
      head,
      baseBranch: options.baseBranch,
      base,
    });
    return {
      path: layout.tree,
      gitDir: layout.gitDir,
      objectsDir: join(layout.gitDir, "objects"),
      movedAside,
      branchOnRemote,
      head,
    };
  } catch (error) {
    throw gitFailure(
      `could not prepare the workspace of run ${options.runId}`,
      error,
      "workspace_prepare_failed",
    );
  }
}
