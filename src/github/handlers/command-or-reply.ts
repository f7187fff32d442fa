import type { ProbotOctokit } from "probot";
import { isDevflowError } from "../../errors.ts";
import type { Reply, ReplyTarget } from "../reply.ts";
import type { DeliveryOutcome } from "./delivery-context.ts";

/**
 * Runs an engine command on a person's behalf. A refusal meant for that person (a
 * conflict, a paused run, a gate already decided) becomes one reply,
 * `<preface>: <why>.`, and an outcome; anything else is thrown, and the job retries.
 */
export async function commandOrReply(
  reply: Reply,
  octokit: ProbotOctokit,
  target: ReplyTarget,
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
