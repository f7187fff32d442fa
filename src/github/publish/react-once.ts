import { eq, sql } from "drizzle-orm";
import type { ProbotOctokit } from "probot";
import type { Db } from "../../db/client.ts";
import { onceReplies } from "../../db/schema/index.ts";

/** How long a claim may stand without its reaction before another may give it. */
const CLAIM_TIMEOUT_SECONDS = 60;

/**
 * 👀 on a run's issue, once: the label handler gives it right after the run starts
 * (the first thing a person sees), and the publisher gives it if the handler did
 * not get to. Whoever claims the run's key reacts, then marks the claim done; a
 * reaction that fails gives the claim back, and a claim whose holder died takes a
 * minute to lapse. True when the reaction is given (by this call or an earlier one).
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
}): Promise<boolean> {
  const key = `eyes:${startKey}`;
  const claimed = await db
    .insert(onceReplies)
    .values({ key, deliveryId: "claimed" })
    .onConflictDoUpdate({
      target: onceReplies.key,
      set: { createdAt: sql`now()` },
      setWhere: sql`${onceReplies.deliveryId} <> 'done' and ${onceReplies.createdAt} < now() - make_interval(secs => ${CLAIM_TIMEOUT_SECONDS})`,
    })
    .returning({ key: onceReplies.key });
  if (claimed.length === 0) {
    const [held] = await db
      .select({ state: onceReplies.deliveryId })
      .from(onceReplies)
      .where(eq(onceReplies.key, key));
    return held?.state === "done";
  }
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
  await db.update(onceReplies).set({ deliveryId: "done" }).where(eq(onceReplies.key, key));
  return true;
}
