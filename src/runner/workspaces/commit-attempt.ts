import { DevflowError } from "../../errors.ts";
import { type CommitLimits, DEFAULT_COMMIT_LIMITS } from "../../security/execution-limits.ts";
import { untrusted } from "../../security/untrusted-text.ts";
import { checkCommitSize } from "./check-commit-size.ts";
import { refuseGitlinks } from "./refuse-gitlinks.ts";
import { removeNestedRepositories } from "./remove-nested-repositories.ts";
import { type GitAuth, gitFailure, runGit } from "./run-git.ts";
import type { AttemptCommit } from "./workspaces.ts";

export interface CommitAttemptOptions extends AttemptCommit {
  /** devflow's git directory and the agent's work tree. */
  gitDir: string;
  tree: string;
  remoteUrl: string;
  branch: string;
  token: string | undefined;
  /** How much the commit may hold; {@link DEFAULT_COMMIT_LIMITS} when not given. */
  limits?: CommitLimits;
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

/** The most removals a commit message names one by one. */
const NAMED_REMOVALS = 20;

/**
 * The message with a paragraph naming the nested repositories devflow removed, put
 * before the trailers (which must stay last, where retries and `%(trailers)` read
 * them). The paths are the agent's: one line each (a name that would break one is
 * quoted), and kept from closing issues or mentioning anyone once the
 * commit is on GitHub.
 */
function withRemovals(message: string, removed: string[], trailers: string): string {
  if (removed.length === 0) return message;
  const lines = removed
    .slice(0, NAMED_REMOVALS)
    .map((path) => `devflow removed a nested git repository at ${path}`);
  if (removed.length > NAMED_REMOVALS) {
    lines.push(`devflow removed ${removed.length - NAMED_REMOVALS} more nested git repositories`);
  }
  const note = untrusted.plain(
    `${lines.join("\n")}\n(what else their directories held is committed as plain files)`,
  );
  const at = message.lastIndexOf(`\n\n${trailers}`);
  if (at === -1) return `${message.trimEnd()}\n\n${note}\n`;
  return `${message.slice(0, at)}\n\n${note}${message.slice(at)}`;
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
    // Nothing the agent left may make devflow's git read or link another repository.
    const removed = await removeNestedRepositories({ tree: options.tree });
    await checkCommitSize({
      gitDir: options.gitDir,
      tree: options.tree,
      forceAdd: options.forceAdd ?? [],
      limits: options.limits ?? DEFAULT_COMMIT_LIMITS,
    });
    await git(["add", "--all"]);
    // An agent's .gitignore must not keep the artifacts out of the commit.
    for (const path of options.forceAdd ?? []) {
      await git(["add", "--force", "--", path]).catch(() => undefined);
    }
    await refuseGitlinks({ gitDir: options.gitDir, tree: options.tree });
    const staged = await git(["diff", "--cached", "--name-only"]);
    if (staged.trim() === "") return null;
    const message = `devflow(${options.phaseKey}): ${options.title}\n\n${options.body}\n\n${attemptTrailers(options)}\n`;
    const recorded = withRemovals(message, removed, attemptTrailers(options));
    if (options.review !== undefined) {
      const diff = await git([
        "diff",
        "--cached",
        "--text",
        "--no-ext-diff",
        "--no-textconv",
        "--no-color",
      ]);
      await options.review({ diff, message: recorded });
    }
    await git(["commit", "--quiet", "--no-verify", "-m", recorded], AUTHOR);
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
