import { DevflowError } from "../../errors.ts";
import { type GitAuth, gitFailure, runGit } from "./run-git.ts";
import type { AttemptCommit } from "./workspaces.ts";

export interface CommitAttemptOptions extends AttemptCommit {
  /** devflow's git directory and the agent's work tree. */
  gitDir: string;
  tree: string;
  remoteUrl: string;
  branch: string;
  token: string | undefined;
}

const AUTHOR = {
  GIT_AUTHOR_NAME: "devflow[bot]",
  GIT_AUTHOR_EMAIL: "devflow@users.noreply.github.com",
  GIT_COMMITTER_NAME: "devflow[bot]",
  GIT_COMMITTER_EMAIL: "devflow@users.noreply.github.com",
};

/** The trailers that name an attempt's commit; how a retry recognises its own work. */
export function attemptTrailers(
  details: Pick<AttemptCommit, "runId" | "phaseKey" | "attempt">,
): string {
  return `Devflow-Run: ${details.runId}\nDevflow-Phase: ${details.phaseKey}\nDevflow-Attempt: ${details.attempt}`;
}

/** This attempt's commit among the run branch's latest ones on the remote, if a try pushed it. */
async function pushedBefore(
  options: CommitAttemptOptions,
  auth: GitAuth | undefined,
): Promise<string | null> {
  const remote = await runGit({
    gitDir: options.gitDir,
    args: ["ls-remote", "--heads", options.remoteUrl, `refs/heads/${options.branch}`],
    auth,
  });
  if (remote.trim() === "") return null;
  const tracking = `refs/remotes/origin/${options.branch}`;
  await runGit({
    gitDir: options.gitDir,
    args: [
      "fetch",
      "--quiet",
      "--no-tags",
      options.remoteUrl,
      `+refs/heads/${options.branch}:${tracking}`,
    ],
    auth,
  });
  const log = await runGit({
    gitDir: options.gitDir,
    args: ["log", tracking, "-n", "100", "--format=%H%x1f%B%x1e"],
  });
  const trailers = attemptTrailers(options);
  for (const entry of log.split("\x1e")) {
    const [sha, message] = entry.trim().split("\x1f");
    if (sha !== undefined && message?.includes(trailers)) return sha;
  }
  return null;
}

/**
 * Commits everything the attempt changed with its trailers and pushes it to the
 * run branch — with devflow's own git directory over the agent's work tree, to
 * the explicit remote URL (never a remote name an agent could have redirected).
 * `review` sees what is staged before anything is committed and may refuse it
 * (the secret scan). A try of the same attempt that finds its commit already on
 * the remote does not commit again: it returns that commit. Nothing changed,
 * nothing committed: null.
 */
export async function commitAttempt(options: CommitAttemptOptions): Promise<string | null> {
  const auth =
    options.token === undefined ? undefined : { url: options.remoteUrl, token: options.token };
  const git = (args: string[], env?: Record<string, string>) =>
    runGit({
      gitDir: options.gitDir,
      workTree: options.tree,
      args,
      auth,
      ...(env === undefined ? {} : { env }),
    });
  try {
    const earlier = await pushedBefore(options, auth);
    if (earlier !== null) return earlier;
    await git(["add", "--all"]);
    // An agent's .gitignore must not keep the artifacts out of the commit.
    for (const path of options.forceAdd ?? []) {
      await git(["add", "--force", "--", path]).catch(() => undefined);
    }
    const staged = await git(["diff", "--cached", "--name-only"]);
    if (staged.trim() === "") return null;
    const message = `devflow(${options.phaseKey}): ${options.title}\n\n${options.body}\n\n${attemptTrailers(options)}\n`;
    if (options.review !== undefined) {
      const diff = await git([
        "diff",
        "--cached",
        "--text",
        "--no-ext-diff",
        "--no-textconv",
        "--no-color",
      ]);
      await options.review({ diff, message });
    }
    await git(["commit", "--quiet", "--no-verify", "-m", message], AUTHOR);
    const sha = (await git(["rev-parse", "HEAD"])).trim();
    await git([
      "push",
      "--quiet",
      "--no-verify",
      options.remoteUrl,
      `${sha}:refs/heads/${options.branch}`,
    ]);
    return sha;
  } catch (error) {
    if (error instanceof DevflowError && error.category !== "git") throw error;
    throw gitFailure(
      `could not commit ${options.phaseKey} attempt ${options.attempt} to ${options.branch}`,
      error,
      "git_commit_failed",
    );
  }
}
