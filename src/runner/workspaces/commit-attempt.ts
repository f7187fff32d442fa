import { DevflowError } from "../../errors.ts";
import { gitIn } from "../prepare-workspace.ts";
import type { AttemptCommit } from "./workspaces.ts";

export interface CommitAttemptOptions extends AttemptCommit {
  path: string;
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

/**
 * Commits everything the attempt changed with its trailers and pushes it to the
 * run branch. A try of the same attempt that finds its commit already on the
 * remote does not commit again: it returns that commit. Nothing changed, nothing
 * committed: null.
 */
export async function commitAttempt(options: CommitAttemptOptions): Promise<string | null> {
  const git = gitIn(options.path, options.token, AUTHOR);
  try {
    const trailers = attemptTrailers(options);
    const remote = await git.raw(["ls-remote", "--heads", "origin", options.branch]);
    if (remote.trim() !== "") {
      await git.fetch([
        "origin",
        `+refs/heads/${options.branch}:refs/remotes/origin/${options.branch}`,
      ]);
      const log = await git.raw([
        "log",
        `origin/${options.branch}`,
        "-n",
        "100",
        "--format=%H%x1f%B%x1e",
      ]);
      for (const entry of log.split("\x1e")) {
        const [sha, message] = entry.trim().split("\x1f");
        if (sha !== undefined && message?.includes(trailers)) return sha;
      }
    }
    await git.raw(["add", "--all"]);
    const staged = await git.raw(["diff", "--cached", "--name-only"]);
    if (staged.trim() === "") return null;
    await git.raw([
      "commit",
      "--quiet",
      "--no-verify",
      "-m",
      `devflow(${options.phaseKey}): ${options.title}\n\n${options.body}\n\n${trailers}\n`,
    ]);
    const sha = (await git.revparse(["HEAD"])).trim();
    await git.raw(["push", "--quiet", "origin", `HEAD:refs/heads/${options.branch}`]);
    return sha;
  } catch (error) {
    throw new DevflowError(
      `could not commit ${options.phaseKey} attempt ${options.attempt} to ${options.branch}: ${(error as Error).message.split("\n")[0]}`,
      {
        class: "recoverable",
        code: "git_commit_failed",
        category: "git",
        cause: error,
      },
    );
  }
}
