import { sql } from "drizzle-orm";
import type { ProbotOctokit } from "probot";
import type { Db } from "../db/client.ts";
import { onceReplies } from "../db/schema/index.ts";

export type ReplyTarget = { owner: string; repo: string; number: number };

/**
 * Answers a person on an issue or pull request with one comment. With `once`, a
 * key for what is said (the issue and the reason), the reply is posted only by
 * the first delivery that says it; the same reason again posts nothing.
 */
export type Reply = (
  octokit: ProbotOctokit,
  target: ReplyTarget,
  body: string,
  options?: { once?: string },
) => Promise<void>;

/**
 * The replies of one delivery's processing. Each carries a hidden marker naming
 * the delivery and its place among the delivery's replies; when an earlier try
 * of the same delivery may have posted already (`retried`), the issue's comments
 * since the delivery arrived are searched for the marker first, so a job that
 * died between replying and recording its outcome does not reply twice.
 */
export function createReply(delivery: {
  id: string;
  receivedAt: Date;
  retried: boolean;
  db: Db;
}): Reply {
  let count = 0;
  return async (octokit, target, body, options = {}) => {
    count += 1;
    if (options.once !== undefined) {
      const key = `${target.owner}/${target.repo}#${target.number}:${options.once}`;
      const [claimed] = await delivery.db
        .insert(onceReplies)
        .values({ key, deliveryId: delivery.id })
        .onConflictDoUpdate({
          target: onceReplies.key,
          // The same delivery again (a retried job) still owns it; another does not.
          set: { deliveryId: sql`${onceReplies.deliveryId}` },
          setWhere: sql`${onceReplies.deliveryId} = ${delivery.id}`,
        })
        .returning({ deliveryId: onceReplies.deliveryId });
      if (claimed === undefined) return;
    }
    const marker = `<!-- devflow-reply:${delivery.id}:${count} -->`;
    if (delivery.retried) {
      const earlier = await octokit.paginate(octokit.rest.issues.listComments, {
        owner: target.owner,
        repo: target.repo,
        issue_number: target.number,
        since: delivery.receivedAt.toISOString(),
        per_page: 100,
      });
      if (earlier.some((comment) => comment.body?.startsWith(marker) === true)) return;
    }
    await octokit.rest.issues.createComment({
      owner: target.owner,
      repo: target.repo,
      issue_number: target.number,
      body: `${marker}\n${body}`,
    });
  };
}
