import type { ProbotOctokit } from "probot";

/** Answers on an issue or pull request with one comment. */
export async function reply(
  octokit: ProbotOctokit,
  target: { owner: string; repo: string; number: number },
  body: string,
): Promise<void> {
  await octokit.rest.issues.createComment({
    owner: target.owner,
    repo: target.repo,
    issue_number: target.number,
    body,
  });
}
