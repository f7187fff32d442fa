import type { ProbotOctokit } from "probot";
import { isDevflowError } from "../errors.ts";
import type { DeliveryOutcome } from "./handlers/delivery-context.ts";

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

/**
 * Runs an engine command on a person's behalf. A refusal meant for that person (a
 * conflict, a paused run, a gate already decided) becomes one reply,
 * `<preface>: <why>.`, and an outcome; anything else is thrown, and the job retries.
 */
export async function commandOrReply(
  octokit: ProbotOctokit,
  target: { owner: string; repo: string; number: number },
  preface: string,
  runId: string,
  command: () => Promise<DeliveryOutcome>,
): Promise<DeliveryOutcome> {
  try {
    return await command();
  } catch (error) {
    if (!isDevflowError(error) || error.class !== "human") throw error;
    await reply(octokit, target, `${preface}: ${error.message}.`);
    return { outcome: `refused: ${error.code}`, runId };
  }
}
