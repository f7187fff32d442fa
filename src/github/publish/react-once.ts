import { eq } from "drizzle-orm";
import type { ProbotOctokit } from "probot";
import type { Db } from "../../db/client.ts";
import { onceReplies } from "../../db/schema/index.ts";

/**
 * 👀 on a run's issue, once: the label handler gives it right after the run starts
 * (the first thing a person sees), and the publisher gives it if the handler did
 * not get to. Whoever claims the run's key first reacts; a reaction that fails
 * gives the claim back, so the other one (or a retry) reacts instead.
 */
export async function reactOnce({
  db,
  octokit,
  owner,
  repo,
  issueNumber,
  startKey,
}: {
  db: Db;
  octokit: ProbotOctokit;
  owner: string;
  repo: string;
  issueNumber: number;
  /** The run's start key (its delivery id): one reaction per run. */
  startKey: string;
}): Promise<void> {
  const key = `eyes:${startKey}`;
  const claimed = await db
    .insert(onceReplies)
    .values({ key, deliveryId: startKey })
    .onConflictDoNothing({ target: onceReplies.key })
    .returning({ key: onceReplies.key });
  if (claimed.length === 0) return;
  try {
    await octokit.rest.reactions.createForIssue({
      owner,
      repo,
      issue_number: issueNumber,
      content: "eyes",
    });
  } catch (error) {
    await db.delete(onceReplies).where(eq(onceReplies.key, key));
    throw error;
  }
}
